/**
 * Legacy token profiles: access tokens in the shape an old API's backends verify today
 * (shared/seeds/), so that those backends keep working unchanged against us. HS256 with that API's
 * own secret, its claim names, no `iss`, `aud` or `kid`, where it had none. Each token still names
 * our session (`sid`) and user (`user_id`), so that ValidateToken checks its session like any other
 * and every revocation reaches it there, and how the user signed in (`amr`, RFC 8176), which
 * ValidateToken answers for it as for ours.
 *
 * Offered only for the APIs whose documents show what their backends read:
 * - VidaPlus (000): `get_current_user` decodes with its SECRET_KEY and HS256 and looks the user up
 *   by `sub` = email (`{sub, exp}` from its `create_access_token`);
 * - Vigia (001): its example token carries `sub` (the user id as a string), `uid` (the integer id),
 *   `username`, `email`, `role`, `roles`, `tenant`, `trace`, `exp`.
 * Solicitud Transporte's document says its authentication is not implemented yet (no backend reads
 * its tokens), and UContact's shows no claims: a guessed `sub` could make a backend find another
 * user than the token's, so neither has a profile.
 *
 * The security price, written in docs/migrating.md: whoever holds a profile's secret can sign tokens of
 * that profile (its backends hold it by design), and a backend that verifies locally sees a
 * revocation only when the token expires, so the lifetime is kept short.
 */
import { randomBytes } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from "jose";
import { LEGACY_TOKEN_PROFILES, type LegacyTokenProfile, type LegacyTokensConfig } from "../../config/legacy-tokens.js";
import { type AccessClaims, type InactiveReason, primaryRole, rolesAdminFirst, type TokenSubject } from "../../domain/model.js";
import { isSessionId } from "../../domain/refresh-token.js";
import { isUserId } from "../../domain/validation.js";

/** What a token of a profile carries: its API's claim names, and our session and user. */
interface Profile {
  claims(subject: TokenSubject): Record<string, unknown>;
  /** The domain claims of a verified payload; undefined when a claim is missing or mistyped. */
  read(payload: Readonly<Record<string, unknown>>): Omit<AccessClaims, "issuedAt" | "expiresAt" | "profile"> | undefined;
}

/** A non-empty string. */
export const isText = (value: unknown): value is string => typeof value === "string" && value !== "";
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");

/**
 * Our session, user and sign-in methods, in every profile. The old APIs' backends hold the secret
 * too and can sign any `sid` and `user_id`: both must have the shape of ours (a session id, a
 * UUID) before they name Redis keys, or a brace in a user id would fail the key's hash tag check.
 */
function ours(payload: Readonly<Record<string, unknown>>): { userId: string; sessionId: string; amr: string[] } | undefined {
  const { sid, user_id, amr } = payload;
  if (!isText(sid) || !isSessionId(sid) || !isText(user_id) || !isUserId(user_id) || !isStringList(amr)) return undefined;
  return { userId: user_id, sessionId: sid, amr };
}

/** What every profile adds to its API's claims. */
const oursOf = (subject: TokenSubject) => ({ sid: subject.sessionId, user_id: subject.userId, amr: [...subject.amr] });

const profiles: Record<LegacyTokenProfile, Profile> = {
  vidaplus: {
    // `sub` is the email: VidaPlus's get_current_user finds its user by it.
    claims: (subject) => ({ sub: subject.email, tid: subject.tenant, ...oursOf(subject) }),
    read(payload) {
      const session = ours(payload);
      const { sub, tid } = payload;
      if (session === undefined || !isText(sub) || !isText(tid)) return undefined;
      return { ...session, tenant: tid, roles: [], email: sub, emailVerified: false, username: null };
    },
  },
  vigia: {
    claims(subject) {
      const number = subject.userNumber;
      if (number === undefined) throw new Error("a Vigia token needs the user's number");
      const roles = rolesAdminFirst(subject.roles);
      return {
        sub: String(number),
        uid: number,
        username: subject.username ?? "",
        email: subject.email,
        role: primaryRole(roles),
        roles,
        tenant: subject.tenant,
        // The example's `trace` is eight hex digits; what Vigia's backends do with it is not documented.
        trace: randomBytes(4).toString("hex"),
        ...oursOf(subject),
      };
    },
    read(payload) {
      const session = ours(payload);
      const { sub, uid, username, email, roles, tenant } = payload;
      if (session === undefined || !Number.isSafeInteger(uid) || sub !== String(uid)) return undefined;
      if (!isText(tenant) || typeof email !== "string" || typeof username !== "string" || !isStringList(roles)) return undefined;
      return { ...session, tenant, roles, email, emailVerified: false, username: username === "" ? null : username };
    },
  },
};

/** Whether a token may be one of a legacy profile: no `kid` (ours always have one) and HS256. */
export function looksLegacy(token: string): boolean {
  try {
    const header = decodeProtectedHeader(token);
    return header.kid === undefined && header.alg === "HS256";
  } catch {
    return false;
  }
}

export interface LegacyTokens {
  /** Whether `api` has a configured profile. */
  has(api: string | undefined): api is LegacyTokenProfile;
  issue(api: LegacyTokenProfile, subject: TokenSubject, now: number, notAfter?: number): Promise<{ token: string; expiresAt: number }>;
  /**
   * Verifies a token of one of `apis`' profiles (the configured ones): signature with that API's
   * secret, HS256 only, exp and iat with the clock skew, its claims. Inactive with BAD_SIGNATURE
   * when no profile's secret verifies it.
   */
  verify(
    token: string,
    apis: readonly LegacyTokenProfile[],
    options: { readonly now: number; readonly clockSkewMs: number },
  ): Promise<{ active: true; claims: AccessClaims } | { active: false; reason: InactiveReason }>;
}

export function createLegacyTokens(configured: LegacyTokensConfig): LegacyTokens {
  const keys = new Map<LegacyTokenProfile, { key: Uint8Array; ttlMs: number }>();
  for (const api of LEGACY_TOKEN_PROFILES) {
    const options = configured[api];
    if (options !== undefined) keys.set(api, { key: new TextEncoder().encode(options.secret), ttlMs: options.ttlMs });
  }

  return {
    has: (api): api is LegacyTokenProfile => api !== undefined && keys.has(api as LegacyTokenProfile),

    async issue(api, subject, now, notAfter) {
      const profile = keys.get(api);
      if (profile === undefined) throw new Error(`no legacy token profile for ${api}`);
      const issuedAt = Math.floor(now / 1000);
      const expiresAt = Math.min(
        issuedAt + Math.floor(profile.ttlMs / 1000),
        notAfter === undefined ? Number.POSITIVE_INFINITY : Math.floor(notAfter / 1000),
      );
      // The header PyJWT and the others write: what these backends have always decoded.
      const token = await new SignJWT(profiles[api].claims(subject))
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(profile.key);
      return { token, expiresAt };
    },

    async verify(token, apis, { now, clockSkewMs }) {
      for (const api of apis) {
        const profile = keys.get(api);
        if (profile === undefined) continue;
        try {
          const { payload } = await jwtVerify(token, profile.key, {
            algorithms: ["HS256"],
            clockTolerance: Math.floor(clockSkewMs / 1000),
            currentDate: new Date(now),
            requiredClaims: ["exp", "iat"],
          });
          const claims = profiles[api].read(payload as Record<string, unknown>);
          const { iat, exp } = payload;
          if (claims === undefined || typeof iat !== "number" || typeof exp !== "number") return { active: false, reason: "malformed" };
          if (iat > Math.floor(now / 1000) + Math.floor(clockSkewMs / 1000)) return { active: false, reason: "not_yet_valid" };
          return { active: true, claims: Object.freeze({ ...claims, issuedAt: iat, expiresAt: exp, profile: api }) };
        } catch (error) {
          // Another profile's secret may verify it.
          if (error instanceof errors.JWSSignatureVerificationFailed) continue;
          if (error instanceof errors.JWTExpired) return { active: false, reason: "expired" };
          if (error instanceof errors.JWTClaimValidationFailed && (error.claim === "nbf" || error.claim === "iat")) {
            return { active: false, reason: "not_yet_valid" };
          }
          if (error instanceof errors.JOSEError) return { active: false, reason: "malformed" };
          throw error;
        }
      }
      return { active: false, reason: "bad_signature" };
    },
  };
}
