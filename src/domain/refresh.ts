/**
 * Refresh: rotates a refresh token and issues a new pair, detecting reuse.
 *
 * `keep` mode leaves the presented token current (only the session's idle lifetime restarts). It
 * exists for the compatibility routes of APIs (Solicitud Transporte, UContact) whose documented
 * clients keep using their first refresh token: rotating would log every such client out a grace
 * window after its first refresh. The native API always rotates.
 */
import { AuthError } from "./errors.js";
import { issueTokens } from "./login.js";
import type { IssuedTokens, RequestContext, User } from "./model.js";
import type { AuthDeps, RotateOutcome } from "./ports.js";
import { hashSecret, newSecret, openSuccessor, parseRefreshToken, sealSuccessor } from "./refresh-token.js";
import { supersededByAccountChange } from "./session-epoch.js";
import { loadTenant } from "./tenants.js";
import { required, tenantHeaderAllows } from "./validation.js";

export async function refresh(
  deps: AuthDeps,
  ctx: RequestContext,
  input: { readonly refreshToken: string },
  mode: "rotate" | "keep" = "rotate",
): Promise<IssuedTokens> {
  const parsed = parseRefreshToken(required("refresh_token", input.refreshToken.trim()));
  if (parsed === null) throw new AuthError("TOKEN_INVALID");
  const { sessionId, secret } = parsed;
  const { userId, amr } = await sessionOwner(deps, ctx, parsed.userId, sessionId);
  for (let attempt = 1; ; attempt++) {
    const user = await deps.users.findById(userId);
    if (user === null || !user.isActive) {
      await deps.sessions.revoke(userId, sessionId);
      throw new AuthError(user === null ? "SESSION_REVOKED" : "ACCOUNT_DISABLED");
    }
    // A tenant that requires roles refuses a user whose last role was taken away. The tenant is read
    // only then: the usual refresh costs no extra query.
    if (user.roles.length === 0 && (await loadTenant(deps, user.tenant)).policy.rolesRequired) throw new AuthError("NO_ROLES");
    const now = deps.clock.now();
    const next = mode === "rotate" ? newSecret() : secret;
    const outcome = await deps.sessions.rotate({
      mode,
      userId,
      sessionId,
      presentedHash: hashSecret(secret),
      nextHash: hashSecret(next),
      sealedNext: mode === "rotate" ? sealSuccessor(next, secret) : "",
      now,
      graceMs: deps.policy.refreshReuseGraceMs,
      idleTtlMs: deps.policy.refreshTokenTtlMs,
      epoch: user.sessionEpoch,
    });
    if (outcome.kind === "stale") {
      // A change to the account finished after we read the user, and this session survived it
      // (the one ChangePassword keeps): nothing was rotated. Read the user again, once, so the
      // new tokens describe the account as it is now (see session-epoch.ts).
      if (attempt < 2) continue;
      throw supersededByAccountChange();
    }
    return answer(deps, ctx, { user, sessionId, secret, next, now, amr }, outcome);
  }
}

/**
 * The user of a live session the caller may refresh in its tenant, and how the session began
 * (`amr`, which its new tokens carry again). Read before rotating: if
 * PostgreSQL is down, nothing has changed yet and the client can retry with the same token after
 * the grace window too.
 */
async function sessionOwner(
  deps: AuthDeps,
  ctx: RequestContext,
  named: string | undefined,
  sessionId: string,
): Promise<{ userId: string; amr: readonly string[] }> {
  // A token of the earlier two-part shape names no user: the session layout's migration left a
  // pointer from its session to its user. Its successor has the current shape.
  const userId = named ?? (await deps.sessions.legacyOwner(sessionId));
  if (userId === null) throw new AuthError("SESSION_REVOKED");
  const session = await deps.sessions.lookup(userId, sessionId);
  // Disabling a user ends their sessions; saying why tells only that this user id is disabled,
  // which whoever holds a token of theirs can learn from ValidateToken anyway.
  if (session.tenant === null) throw new AuthError(session.userDisabled ? "ACCOUNT_DISABLED" : "SESSION_REVOKED");
  if (!tenantHeaderAllows(ctx.tenantHeader, session.tenant)) throw new AuthError("TENANT_MISMATCH");
  ctx.onIdentified?.({ userId, tenant: session.tenant });
  return { userId, amr: session.amr };
}

interface Rotation {
  readonly user: User;
  readonly sessionId: string;
  /** The presented secret, and the one the session now holds (the same in keep mode). */
  readonly secret: string;
  readonly next: string;
  readonly now: number;
  /** How the session began. */
  readonly amr: readonly string[];
}

/** The tokens of a rotation that went through, or why it did not. */
async function answer(
  deps: AuthDeps,
  ctx: RequestContext,
  { user, sessionId, secret, next, now, amr }: Rotation,
  outcome: Exclude<RotateOutcome, { kind: "stale" }>,
): Promise<IssuedTokens> {
  switch (outcome.kind) {
    case "rotated":
    case "kept":
      return issueTokens(deps, user, sessionId, next, outcome.ttlMs, now, amr, ctx.api);
    case "grace": {
      // A retry of a token rotated moments ago (a lost response, a concurrent tab): answer with
      // the successor it already received, so every retry converges on one usable token.
      const successor = openSuccessor(outcome.sealedNext, secret);
      if (successor === null) throw new AuthError("TOKEN_INVALID");
      return issueTokens(deps, user, sessionId, successor, outcome.ttlMs, now, amr, ctx.api);
    }
    case "reused":
      // RFC 9700 §4.14.2: a rotated token came back after the grace window, so it may be in an
      // attacker's hands; the store already ended the whole session.
      await deps.events.record({
        type: "refresh_reuse_detected",
        tenant: outcome.tenant,
        userId: outcome.userId,
        sessionId,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
      });
      throw new AuthError("TOKEN_REUSED");
    case "mismatch":
      // The session id is not secret (it is the `sid` claim of access tokens), so a wrong secret
      // must not end the session: that would let anyone log anyone out.
      throw new AuthError("TOKEN_INVALID");
    case "missing":
      throw new AuthError("SESSION_REVOKED");
  }
}
