/**
 * Refresh: rotates a refresh token and issues a new pair, detecting reuse.
 *
 * The usual refresh is one Redis round trip and no PostgreSQL: the rotation runs on the copy of
 * the user kept beside their sessions (`UserCopy` in ports.ts: written at login, deleted by every
 * change to the user), and returns it. Without a usable copy (none yet, expired, deleted by a
 * change, or kept by an earlier version for a user without roles), nothing is rotated and the
 * refresh reads the user from PostgreSQL first, as it always did, then rotates with the session
 * epoch it read (session-epoch.ts) and keeps a new copy.
 *
 * `keep` mode leaves the presented token current (only the session's idle lifetime restarts). It
 * exists for the compatibility routes of APIs (Solicitud Transporte, UContact) whose documented
 * clients keep using their first refresh token: rotating would log every such client out a grace
 * window after its first refresh. The native API always rotates.
 */
import { AuthError } from "./errors.js";
import { issueTokens } from "./login.js";
import type { IssuedTokens, RequestContext, User } from "./model.js";
import type { AuthDeps, CopyMarks, RotateOutcome, RotateRequest, UserCopy } from "./ports.js";
import { hashSecret, newSecret, openSuccessor, parseRefreshToken, sealSuccessor } from "./refresh-token.js";
import { supersededByAccountChange } from "./session-epoch.js";
import { loadTenant } from "./tenants.js";
import { required, tenantNamedBy } from "./validation.js";

/** One refresh's rotation: what it presents and what it will hand out. */
interface Step {
  readonly request: Omit<RotateRequest, "epoch">;
  readonly secret: string;
  readonly next: string;
}

export async function refresh(
  deps: AuthDeps,
  ctx: RequestContext,
  input: { readonly refreshToken: string },
  mode: "rotate" | "keep" = "rotate",
): Promise<IssuedTokens> {
  const parsed = parseRefreshToken(required("refresh_token", input.refreshToken.trim()));
  if (parsed === null) throw new AuthError("TOKEN_INVALID");
  const { sessionId, secret } = parsed;
  // A token of the earlier two-part shape names no user: the session layout's migration left a
  // pointer from its session to its user. Its successor has the current shape.
  const userId = parsed.userId ?? (await deps.sessions.legacyOwner(sessionId));
  if (userId === null) throw new AuthError("SESSION_REVOKED");
  const now = deps.clock.now();
  const next = mode === "rotate" ? newSecret() : secret;
  const step: Step = {
    secret,
    next,
    request: {
      mode,
      userId,
      sessionId,
      presentedHash: hashSecret(secret),
      nextHash: hashSecret(next),
      sealedNext: mode === "rotate" ? sealSuccessor(next, secret) : "",
      now,
      graceMs: deps.policy.refreshReuseGraceMs,
      idleTtlMs: deps.policy.refreshTokenTtlMs,
      // Compared in the rotation's script, as the other calls compare it (`X-Tenant: Default`
      // signs in to `default`, so its refresh must not be a TENANT_MISMATCH).
      tenantHeader: tenantNamedBy(ctx.tenantHeader),
    },
  };
  const outcome = await deps.sessions.rotate({ ...step.request, epoch: undefined });
  if (outcome.kind === "userNeeded") return refreshReadingUser(deps, ctx, step, outcome);
  return answer(deps, ctx, step, outcome, (copy) => userOfCopy(deps, step, copy));
}

/**
 * The user the copy describes, if it was read under the tenant's current generation; else
 * PostgreSQL's. A copy read under none (kept by an earlier version while the tenant's generation
 * was missing) matches nothing: the store never reads a generation as "".
 */
async function userOfCopy(deps: AuthDeps, step: Step, copy: UserCopy | undefined): Promise<User> {
  const generation = copy?.tenantGeneration;
  if (copy !== undefined && generation !== "" && generation === (await deps.sessions.tenantGeneration(copy.user.tenant))) return copy.user;
  // The copy predates a change to its tenant's roles or policy (or did not read back). The session
  // is rotated already: describe the user as PostgreSQL has them now, and keep that copy instead.
  // (A user left without roles in a tenant that requires them is refused only now, after the
  // rotation: the tenant's change came between this user's last change and this refresh.)
  const { userId, sessionId } = step.request;
  const marks = copy === undefined ? undefined : await deps.sessions.copyMarks(userId, copy.user.tenant);
  const user = await activeUser(deps, userId, sessionId);
  if (marks !== undefined) await deps.sessions.keepCopy(user, marks).catch(() => {});
  return user;
}

/** The user from PostgreSQL, if they may still refresh; their session ends otherwise. */
async function activeUser(deps: AuthDeps, userId: string, sessionId: string): Promise<User> {
  const user = await deps.users.findById(userId);
  if (user === null || !user.isActive) {
    await deps.sessions.revoke(userId, sessionId);
    throw new AuthError(user === null ? "SESSION_REVOKED" : "ACCOUNT_DISABLED");
  }
  // A tenant that requires roles refuses a user whose last role was taken away. The tenant is read
  // only then: the usual refresh costs no extra query.
  if (user.roles.length === 0 && (await loadTenant(deps, user.tenant)).policy.rolesRequired) throw new AuthError("NO_ROLES");
  return user;
}

/**
 * Refresh without a usable copy: the user is read from PostgreSQL before anything changes (if
 * PostgreSQL is down, the client can retry with the same token, even after the grace window).
 */
async function refreshReadingUser(
  deps: AuthDeps,
  ctx: RequestContext,
  step: Step,
  needed: Extract<RotateOutcome, { kind: "userNeeded" }>,
): Promise<IssuedTokens> {
  const { userId, sessionId } = step.request;
  ctx.onIdentified?.({ userId, tenant: needed.tenant });
  // The marks a copy is kept under are read before the user: the user's came with the outcome.
  let marks: CopyMarks = { userChange: needed.userChange, tenantGeneration: await deps.sessions.tenantGeneration(needed.tenant) };
  for (let attempt = 1; ; attempt++) {
    const user = await activeUser(deps, userId, sessionId);
    const outcome = await deps.sessions.rotate({ ...step.request, epoch: user.sessionEpoch, keepCopy: { user, marks } });
    if (outcome.kind !== "stale") return answer(deps, ctx, step, outcome, async () => user);
    // A change to the account finished after we read the user, and this session survived it (the
    // one ChangePassword keeps): nothing was rotated. Read the user again, once, so the new tokens
    // describe the account as it is now (see session-epoch.ts).
    if (attempt >= 2) throw supersededByAccountChange();
    marks = await deps.sessions.copyMarks(userId, needed.tenant);
  }
}

/** The answer to a rotation's outcome; `userOf` gives the user the new tokens describe. */
async function answer(
  deps: AuthDeps,
  ctx: RequestContext,
  step: Step,
  outcome: RotateOutcome,
  userOf: (copy: UserCopy | undefined) => Promise<User>,
): Promise<IssuedTokens> {
  const { userId, sessionId, now } = step.request;
  switch (outcome.kind) {
    case "rotated":
    case "kept":
    case "grace": {
      const user = await userOf(outcome.copy);
      ctx.onIdentified?.({ userId, tenant: user.tenant });
      // A retry of a token rotated moments ago (a lost response, a concurrent tab) gets the
      // successor it already received, so every retry converges on one usable token.
      const secret = outcome.kind === "grace" ? openSuccessor(outcome.sealedNext, step.secret, outcome.currentHash) : step.next;
      if (secret === null) throw new AuthError("TOKEN_INVALID");
      // The session's own `amr`: how it began, which its every token carries again.
      return issueTokens(deps, user, sessionId, secret, outcome.ttlMs, now, outcome.amr, ctx.api);
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
      // Disabling a user ends their sessions, and the store remembers which: only a token of one
      // of them is told why. A token made up from the user's id (any relying service sees it) and
      // a session id of its own is told SESSION_REVOKED whether or not the user is disabled.
      throw new AuthError(outcome.userDisabled ? "ACCOUNT_DISABLED" : "SESSION_REVOKED");
    case "tenantMismatch":
      throw new AuthError("TENANT_MISMATCH");
    case "userNeeded":
    case "stale":
      throw new Error(`a rotation answered ${outcome.kind} where it cannot`);
  }
}
