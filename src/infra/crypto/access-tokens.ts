/**
 * The AccessTokens port: JWTs per RFC 9068 (`typ: at+jwt`, `kid` in the header) with
 * the claims iss, aud, sub, exp, iat, jti, sid, tid, roles, email, email_verified, username, amr.
 *
 * Verified tokens are remembered (a bounded map keyed by the exact token text): the services that
 * call ValidateToken present the same token on every request for its whole lifetime, and the
 * signature check (about 100 µs of CPU for ES256 here) was most of a ValidateToken's cost. A
 * remembered token skips only the signature: its lifetime, audience, and whether its key may still
 * verify are checked again on every call. A caller's audience that is not the token's is answered
 * `wrong_audience` from memory (the full path's answer) and leaves the entry, since the audience is
 * the caller's choice; anything else but "still valid" goes down the full path, so a remembered
 * token is never answered differently from a fresh one. Failures are not
 * remembered, so nobody can fill the map without tokens we signed.
 */
import { randomUUID } from "node:crypto";
import { LEGACY_TOKEN_PROFILES, type LegacyTokensConfig } from "../../config/legacy-tokens.js";
import type { AccessClaims, TokenCheck } from "../../domain/model.js";
import type { AccessTokens } from "../../domain/ports.js";
import { type JwsFailure, type JwsVerdict, signCompact, verifyCompact } from "./jws.js";
import { checkClaims } from "./jwt-claims.js";
import type { KeyRing } from "./key-ring.js";
import type { SigningKey } from "./keys.js";
import { createLegacyTokens, isText, looksLegacy } from "./legacy-tokens.js";

export interface AccessTokenOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlMs: number;
  readonly clockSkewMs: number;
  /** How many verified tokens to remember (0: none); oldest forgotten first. */
  readonly verifiedCacheSize?: number;
  /** The old APIs' legacy token profiles the operator configured (none by default). */
  readonly legacy?: LegacyTokensConfig;
}

/** A verified token, remembered: what must hold again before it is answered from memory. */
interface Verified {
  readonly claims: AccessClaims;
  readonly kid: string;
  readonly algorithm: string;
  readonly audiences: readonly string[];
  readonly notBefore: number | undefined;
}

export interface AccessTokensWithCache extends AccessTokens {
  /** Tokens answered from memory, tokens verified in full, and how many are remembered. */
  cacheStats(): { readonly hits: number; readonly misses: number; readonly size: number };
}

const ACCESS_TOKEN_TYPE = "at+jwt";

/** The `amr` claim (RFC 8176): a list of strings, passed on as signed; a token without it claims no method. */
function methodsOf(amr: unknown): string[] | undefined {
  if (amr === undefined) return [];
  return Array.isArray(amr) && amr.every((m) => typeof m === "string") ? amr : undefined;
}

/** The domain claims of a verified payload; undefined when a claim is missing or mistyped. */
function claimsOf(payload: Readonly<Record<string, unknown>>): AccessClaims | undefined {
  const { sub, sid, tid, roles, email, email_verified, username, iat, exp, amr } = payload;
  if (!isText(sub) || !isText(sid) || !isText(tid) || typeof email !== "string") return undefined;
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === "string")) return undefined;
  if (username !== undefined && typeof username !== "string") return undefined;
  // Tokens signed before the claim existed lack it: not known to be verified.
  if (email_verified !== undefined && typeof email_verified !== "boolean") return undefined;
  if (typeof iat !== "number" || typeof exp !== "number") return undefined;
  const methods = methodsOf(amr);
  if (methods === undefined) return undefined;
  return {
    userId: sub,
    tenant: tid,
    sessionId: sid,
    roles,
    email,
    emailVerified: email_verified === true,
    username: username ?? null,
    amr: methods,
    issuedAt: iat,
    expiresAt: exp,
  };
}

/**
 * Which verified tokens are worth remembering: those verified a second time while the first is
 * still recorded. A caller presents its token again within moments, so the second call remembers
 * it; a token verified once and not again (a burst of new tokens, more tokens in turn than the map
 * holds) mostly does not enter the map, and so mostly does not push out the tokens in use. Each
 * verified token overwrites one slot of a table twice the map's size with a fingerprint of its
 * last characters; two tokens with one fingerprint only let the second in early. It is not a
 * defence against a caller who holds a valid token: base64url decoding is lenient (whitespace,
 * padding, unused bits), so such a caller can write many distinct texts of one token and fill the
 * map, as they always could, now with twice the requests. No allocation per token.
 */
class Doorkeeper {
  readonly #slots: Int32Array;
  readonly #mask: number;

  constructor(capacity: number) {
    let size = 1024;
    while (size < 2 * capacity && size < 1 << 22) size *= 2;
    this.#slots = new Int32Array(size);
    this.#mask = size - 1;
  }

  /** Whether `token` was offered before (and its slot kept it since); records it either way. */
  admits(token: string): boolean {
    let fingerprint = 0;
    for (let i = Math.max(0, token.length - 8); i < token.length; i++) fingerprint = (Math.imul(fingerprint, 31) + token.charCodeAt(i)) | 0;
    const slot = fingerprint & this.#mask;
    if (this.#slots[slot] === fingerprint) return true;
    this.#slots[slot] = fingerprint;
    return false;
  }
}

/**
 * Verified tokens by their text, the oldest forgotten first; an entry answers only while every
 * check but the signature still passes. A token is remembered at its second verification (the
 * Doorkeeper's).
 */
class VerifiedTokens {
  readonly #entries = new Map<string, Verified>();
  readonly #doorkeeper: Doorkeeper;
  hits = 0;
  misses = 0;

  constructor(
    private readonly ring: KeyRing,
    private readonly capacity: number,
    private readonly skewSeconds: number,
  ) {
    this.#doorkeeper = new Doorkeeper(Math.max(0, capacity));
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The remembered claims if every check but the signature still passes at `now`; "wrong_audience"
   * if only the caller's audience is not the token's (what the full check would answer, and the
   * entry stays: the audience is the caller's choice, so a wrong one must not evict the token for
   * every other caller); else undefined, the entry forgotten.
   */
  recall(token: string, audience: string, now: number): AccessClaims | "wrong_audience" | undefined {
    if (this.capacity <= 0) return undefined;
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    // The same arithmetic as jose's and ours below, in whole seconds.
    const nowSeconds = Math.floor(now / 1000);
    const skew = this.skewSeconds;
    const key = this.ring.find(entry.kid, now);
    const fresh =
      entry.claims.expiresAt > nowSeconds - skew &&
      entry.claims.issuedAt <= nowSeconds + skew &&
      (entry.notBefore === undefined || entry.notBefore <= nowSeconds + skew) &&
      key !== undefined &&
      !(key instanceof Promise) &&
      key.algorithm === entry.algorithm;
    if (!fresh) {
      this.#entries.delete(token);
      return undefined;
    }
    return entry.audiences.includes(audience) ? entry.claims : "wrong_audience";
  }

  /** Remembers `entry` for `token` if the Doorkeeper admits it; whether it did. */
  remember(token: string, entry: Verified): boolean {
    if (this.capacity <= 0 || !this.#doorkeeper.admits(token)) return false;
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, entry);
    return true;
  }
}

/** The base64url protected header of each key's tokens, encoded once. */
const encodedHeaders = new WeakMap<SigningKey, string>();

function encodedHeaderOf(key: SigningKey): string {
  let encoded = encodedHeaders.get(key);
  if (encoded === undefined) {
    encoded = Buffer.from(JSON.stringify({ alg: key.algorithm, kid: key.kid, typ: ACCESS_TOKEN_TYPE })).toString("base64url");
    encodedHeaders.set(key, encoded);
  }
  return encoded;
}

/** Signs an access token with the ring's signer, expiring after the lifetime or at `notAfter`, whichever is first. */
function sign(ring: KeyRing, options: AccessTokenOptions, claims: Parameters<AccessTokens["issue"]>[0], now: number, notAfter?: number) {
  const key = ring.signer();
  const issuedAt = Math.floor(now / 1000);
  const expiresAt = Math.min(
    issuedAt + Math.floor(options.ttlMs / 1000),
    notAfter === undefined ? Number.POSITIVE_INFINITY : Math.floor(notAfter / 1000),
  );
  const payload = JSON.stringify({
    sid: claims.sessionId,
    tid: claims.tenant,
    roles: claims.roles,
    email: claims.email,
    email_verified: claims.emailVerified,
    ...(claims.username === null ? {} : { username: claims.username }),
    amr: claims.amr,
    iss: options.issuer,
    aud: options.audience,
    sub: claims.userId,
    iat: issuedAt,
    exp: expiresAt,
    jti: randomUUID(),
  });
  return { token: signCompact(key.algorithm, key.signingKey, encodedHeaderOf(key), payload), expiresAt };
}

const REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti"] as const;

/**
 * The key a token's header names: only our own keys, by kid, each bound to its one algorithm. A
 * promise only while the ring reloads.
 */
function keyNamedBy(
  ring: KeyRing,
  header: Readonly<Record<string, unknown>>,
  now: number,
): SigningKey | JwsFailure | Promise<SigningKey | JwsFailure> {
  // Only our own keys, found by kid: headers such as jku, x5u or jwk are never followed.
  const found = typeof header.kid === "string" ? ring.find(header.kid, now) : undefined;
  return found instanceof Promise ? found.then((key) => boundKey(header, key)) : boundKey(header, found);
}

function boundKey(header: Readonly<Record<string, unknown>>, key: SigningKey | undefined): SigningKey | JwsFailure {
  if (key === undefined) return "unknown_key";
  // Each kid is bound to one algorithm, so a ring holding keys of two algorithms (during a
  // migration) never lets a token pick the algorithm for a key.
  return header.alg === key.algorithm ? key : "algorithm_not_allowed";
}

/** A full check's outcome: the answer, and what to remember of the token when it passed. */
interface FullCheck {
  readonly check: TokenCheck;
  readonly verified?: Verified;
}

/**
 * The full check of a token (signature included); what to remember of it when it passes.
 * Synchronous unless the ring is reloading (see verifyCompact).
 */
function verifyFully(
  ring: KeyRing,
  options: AccessTokenOptions,
  token: string,
  audience: string,
  now: number,
): FullCheck | Promise<FullCheck> {
  const jws = verifyCompact(token, { algorithms: ring.algorithms(), keyFor: (header) => keyNamedBy(ring, header, now) });
  return jws instanceof Promise
    ? jws.then((verdict) => checkVerified(options, verdict, audience, now))
    : checkVerified(options, jws, audience, now);
}

/** The claims' checks of a token whose signature verdict is `jws`. */
function checkVerified(options: AccessTokenOptions, jws: JwsVerdict, audience: string, now: number): FullCheck {
  const skewSeconds = Math.floor(options.clockSkewMs / 1000);
  if (!jws.ok) return { check: { active: false, reason: jws.reason } };
  const checked = checkClaims(jws.header, jws.payload, {
    typ: ACCESS_TOKEN_TYPE,
    issuer: options.issuer,
    audience,
    toleranceSeconds: skewSeconds,
    nowSeconds: Math.floor(now / 1000),
    requiredClaims: REQUIRED_CLAIMS,
  });
  if (!checked.ok) return { check: { active: false, reason: checked.reason } };
  const payload = checked.claims;
  const claims = claimsOf(payload);
  if (claims === undefined) return { check: { active: false, reason: "malformed" } };
  if (claims.issuedAt > Math.floor(now / 1000) + skewSeconds) return { check: { active: false, reason: "not_yet_valid" } };
  const audiences = typeof payload.aud === "string" ? [payload.aud] : (payload.aud as string[]);
  const notBefore = typeof payload.nbf === "number" ? payload.nbf : undefined;
  const verified = { claims, kid: jws.header.kid as string, algorithm: jws.header.alg as string, audiences, notBefore };
  return { check: { active: true, claims }, verified };
}

export function createAccessTokens(ring: KeyRing, options: AccessTokenOptions): AccessTokensWithCache {
  const cache = new VerifiedTokens(ring, options.verifiedCacheSize ?? 0, Math.floor(options.clockSkewMs / 1000));
  /**
   * The answer of a full check, its claims remembered when the cache admits the token. Remembered
   * claims answer many calls, so they are frozen (and transports may keep what they build from
   * them: a frozen answer is serialized once); a token not remembered keeps claims of its own,
   * left unfrozen, so nothing is built to be kept for a token that may never come back.
   */
  const remembered = (token: string, { check, verified }: FullCheck): TokenCheck => {
    if (verified !== undefined && cache.remember(token, verified)) {
      const { claims } = verified;
      Object.freeze(claims.roles);
      Object.freeze(claims.amr);
      Object.freeze(claims);
    }
    return check;
  };
  const legacy = createLegacyTokens(options.legacy ?? {});
  const legacyApis = LEGACY_TOKEN_PROFILES.filter((api) => legacy.has(api));
  return {
    issue: async (claims, now, notAfter, api) =>
      legacy.has(api) ? legacy.issue(api, claims, now, notAfter) : sign(ring, options, claims, now, notAfter),
    // Not an async function: a token verified on the spot costs one settled promise, not one per
    // step; what an async function would have turned into a rejection still is one.
    verify(token, options) {
      try {
        return verifyToken(token, options);
      } catch (error) {
        return Promise.reject(error);
      }
    },
    cacheStats: () => ({ hits: cache.hits, misses: cache.misses, size: cache.size }),
  };

  function verifyToken(token: string, { audience, now, accept }: Parameters<AccessTokens["verify"]>[1]): Promise<TokenCheck> {
    const expectedAudience = audience ?? options.audience;
    const known = cache.recall(token, expectedAudience, now);
    if (known !== undefined) {
      cache.hits++;
      return Promise.resolve(known === "wrong_audience" ? { active: false, reason: known } : { active: true, claims: known });
    }
    // A legacy token only where its profile is accepted (a route of its API, or ValidateToken),
    // and only when one is configured: otherwise nothing here looks at the token's header twice.
    const apis = accept === undefined ? [] : accept === "any" ? legacyApis : legacyApis.filter((api) => api === accept);
    if (apis.length > 0 && looksLegacy(token)) {
      return legacy.verify(token, apis, { now, clockSkewMs: options.clockSkewMs }).then((check) =>
        // It has no audience: a caller that asked for one is not answered with it.
        check.active && audience !== undefined ? { active: false, reason: "wrong_audience" } : check,
      );
    }
    cache.misses++;
    const full = verifyFully(ring, options, token, expectedAudience, now);
    return full instanceof Promise ? full.then((done) => remembered(token, done)) : Promise.resolve(remembered(token, full));
  }
}
