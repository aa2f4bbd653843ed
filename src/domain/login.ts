/** Login: checks a password and starts a session, or asks for the second factor first. */
import { accountOf, checkSecret } from "./abuse-limits.js";
import { AuthError } from "./errors.js";
import type { MfaTicketPurpose } from "./mfa/ports.js";
import { issueChallenge, secondStepOwed } from "./mfa/verify.js";
import {
  type AccountCredentials,
  type AuthMethod,
  type IssuedTokens,
  type LoginOutcome,
  type MfaChallenge,
  type OldApi,
  PASSWORD_ONLY,
  type RequestContext,
  type TokenSubject,
  type User,
} from "./model.js";
import type { AuthDeps, CopyMarks } from "./ports.js";
import { formatRefreshToken, hashSecret, newSecret, newSessionId } from "./refresh-token.js";
import { supersededByAccountChange } from "./session-epoch.js";
import { policyInForce, type Tenant } from "./tenants.js";
import { checkPasswordInput, loginKey, required, resolveTenant } from "./validation.js";

export interface LoginInput {
  /** Email address or username, any letter case. */
  readonly identifier: string;
  readonly password: string;
  /**
   * Without `x-tenant`, look the identifier up in every tenant but the platform's instead of the
   * default tenant: Vigia's "legacy mode". Only an identifier that exactly one account holds signs
   * in; one that several tenants hold answers as an unknown one does, after the same work.
   */
  readonly anyTenant?: boolean;
}

/** Accounts legacy mode reads at most: two tell unique from ambiguous. */
const LEGACY_MODE_LIMIT = 2;

/**
 * Login for the routes that cannot take a second step (the seed APIs other than Solicitud
 * Transporte): the tokens, or MFA_REQUIRED / MFA_ENROLLMENT_REQUIRED (PERMISSION_DENIED) for a
 * user who needs a second factor, after the same checks as `signIn` and without issuing a ticket.
 */
export async function login(deps: AuthDeps, ctx: RequestContext, input: LoginInput): Promise<IssuedTokens> {
  const outcome = await signIn(deps, ctx, input, "refuse");
  if (outcome.kind !== "signed_in") throw new Error("signIn answered a challenge it was told to refuse");
  return outcome.tokens;
}

/**
 * Login: the password, then the tokens, or (`secondStep` "ticket", the default) a ticket for the
 * second step when the user has MFA on (VerifyMfa) or their tenant requires it and they have none
 * (enrolment). The password alone never opens a session of a user with MFA on.
 */
export async function signIn(
  deps: AuthDeps,
  ctx: RequestContext,
  input: LoginInput,
  secondStep: "ticket" | "refuse" = "ticket",
): Promise<LoginOutcome> {
  const identifier = required("identifier", input.identifier.trim());
  const password = checkPasswordInput("password", input.password);
  const { tenant, key, credentials, anyTenant } = await accountToCheck(deps, ctx, input, identifier);
  const failed = (cause: string, userId?: string) =>
    deps.events.record({
      type: "login_failed",
      tenant,
      ...(userId ? { userId } : {}),
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      detail: anyTenant ? { cause, lookup: "any_tenant" } : { cause },
    });

  const correct = await checkPassword(deps, ctx, { tenant, key, credentials, password });
  if (credentials === null) {
    await failed("unknown_user");
    throw new AuthError("INVALID_CREDENTIALS");
  }
  const { user, passwordHash } = credentials;
  if (!correct) {
    await failed("wrong_password", user.id);
    throw new AuthError("INVALID_CREDENTIALS");
  }
  // Past the password, the whole user (roles: see Account). The session carries the epoch read
  // before the password check, not this read's (see session-epoch.ts). The marks a copy of the
  // user for Refresh is kept under are read before it (ports.ts UserCopy).
  // The user, their tenant and their second factor are read in one query.
  const marks = await deps.sessions.copyMarks(user.id, user.tenant);
  const read = await deps.users.findForSignIn(user.id);
  if (read === null) throw new AuthError("INVALID_CREDENTIALS"); // deleted meanwhile
  const fullUser: User = { ...read.user, sessionEpoch: user.sessionEpoch };
  const { refusal, mfaRequired } = admissionOf(deps, read.tenant, fullUser, user.isActive, user.emailVerified);
  if (refusal !== null) {
    await failed(loginRefusalCause[refusal], user.id);
    throw new AuthError(refusal);
  }
  ctx.onIdentified?.({ userId: user.id, tenant });
  if (deps.passwords.needsRehash(passwordHash)) {
    // An imported hash, or another cost than today's: the password is at hand only now. After the
    // answer, so that this login is not slowed by a second bcrypt.
    deps.background.defer(ctx, "password re-hash", async () => {
      await deps.users.upgradePasswordHash(user.id, passwordHash, await deps.passwords.hash(password));
    });
  }

  const challenge = await secondStepOf(deps, fullUser, secondStepOwed(read.secondFactorConfirmed, mfaRequired), secondStep, failed);
  if (challenge !== null) return challenge;

  let tokens: IssuedTokens;
  try {
    // The copy of the user for Refresh is kept in the session's own step (best effort: without
    // one, the first refresh reads PostgreSQL and keeps one).
    tokens = await startSession(deps, ctx, fullUser, PASSWORD_ONLY, marks);
  } catch (error) {
    // A change to the account (or disabling it) finished after this login read the user.
    if (error instanceof AuthError && (error.reason === "SESSION_REVOKED" || error.reason === "ACCOUNT_DISABLED")) {
      await failed(error.reason === "ACCOUNT_DISABLED" ? "disabled" : "superseded", user.id);
    }
    throw error;
  }
  await deps.events.record({ type: "login_succeeded", tenant, userId: user.id, ip: ctx.ip, userAgent: ctx.userAgent });
  // Signed in with no second step: the address is now one of the owner's (abuse-limits.ts), before
  // the answer, so that her next request finds it. A store that fails only now costs that memory,
  // not the session she has.
  await deps.loginThrottle.signedIn({ kind: "user", userId: user.id }, ctx.ip).catch(() => undefined);
  return { kind: "signed_in", tokens };
}

/**
 * Checks the password under the guessing limits (abuse-limits.ts): counted, and refused before any
 * bcrypt when over a limit, on the user when there is one, on the identifier otherwise, with the
 * same Redis operations either way. Whether the sign-in completes (no second factor due) is known
 * only later: `signIn` reports it.
 */
function checkPassword(
  deps: AuthDeps,
  ctx: RequestContext,
  login: { readonly tenant: string; readonly key: string; readonly credentials: AccountCredentials | null; readonly password: string },
): Promise<boolean> {
  const { tenant, key, credentials, password } = login;
  const attempt = {
    account: accountOf(tenant, key, credentials?.user.id),
    address: ctx.ip,
    kind: "password",
    tenant,
    completesSignIn: false,
  } as const;
  return checkSecret(deps, ctx, attempt, async () => {
    if (credentials !== null) return deps.passwords.verify(password, credentials.passwordHash);
    // Same answer and same cost for an unknown user: verify against a dummy hash of the same cost,
    // so neither the error nor the response time tells whether the account exists.
    await deps.passwords.verifyAgainstDummy(password);
    return false;
  });
}

/**
 * The account whose password to check, and its tenant: in the tenant `x-tenant` names (which must
 * exist: NOT_FOUND at once, tenant ids being no secret and a typo not a wrong password) or the
 * default one; or, in legacy mode, the one account that holds the identifier in any tenant but the
 * platform's, or none when none or several do. One bounded query either way, and the caller does
 * the same work for none as for an unknown identifier: legacy mode tells nobody that an address
 * exists in several tenants (who holds the password of one of them sends x-tenant).
 */
async function accountToCheck(deps: AuthDeps, ctx: RequestContext, input: LoginInput, identifier: string) {
  const anyTenant = input.anyTenant === true && ctx.tenantHeader === undefined;
  const tenant = resolveTenant(ctx.tenantHeader, deps.policy.defaultTenant);
  const key = loginKey(identifier);
  if (!anyTenant) {
    if (ctx.tenantHeader !== undefined && (await deps.tenants.find(tenant)) === null) throw new AuthError("TENANT_NOT_FOUND");
    return { tenant, key, anyTenant, credentials: await deps.users.findAccountByLogin(tenant, key) };
  }
  const found = await deps.users.findAccountsByLoginInAnyTenant(key, deps.policy.platformTenant, LEGACY_MODE_LIMIT);
  const credentials: AccountCredentials | null = found.length === 1 ? (found[0] ?? null) : null;
  return { tenant: credentials?.user.tenant ?? tenant, key, anyTenant, credentials };
}

/**
 * Why a user who proved the password may not sign in (or null), and whether their tenant requires
 * a second factor. Account state and the tenant's policy are told only to someone who proved the
 * password.
 */
function admissionOf(
  deps: AuthDeps,
  tenant: Tenant | null,
  user: User,
  isActive: boolean,
  emailVerified: boolean,
): { refusal: keyof typeof loginRefusalCause | null; mfaRequired: boolean } {
  // As loadTenant: a user's tenant cannot go while it has users, but if it did, say so.
  if (tenant === null) throw new AuthError("TENANT_NOT_FOUND");
  const policy = policyInForce(tenant.settings, deps.policy);
  const refusal = !isActive
    ? "ACCOUNT_DISABLED"
    : !tenant.isActive
      ? "TENANT_DISABLED"
      : policy.verifiedEmailRequired && !emailVerified
        ? "EMAIL_NOT_VERIFIED"
        : policy.rolesRequired && user.roles.length === 0
          ? "NO_ROLES"
          : null;
  return { refusal, mfaRequired: policy.mfaRequired };
}

/**
 * The second step a user owes before a session (`needed`, secondStepOwed): a user with MFA on
 * proves it (VerifyMfa); one without, in a tenant that requires MFA, enrols first. A ticket for it
 * (`mode` "ticket"), or on the routes that cannot take a second step, MFA_REQUIRED /
 * MFA_ENROLLMENT_REQUIRED; null when none is owed. The ticket carries the session epoch read with
 * the password hash, so a password change or a sign-out everywhere before the second step voids it.
 */
async function secondStepOf(
  deps: AuthDeps,
  user: User,
  needed: MfaTicketPurpose | null,
  mode: "ticket" | "refuse",
  failed: (cause: string, userId?: string) => Promise<void>,
): Promise<MfaChallenge | null> {
  if (needed === null) return null;
  if (mode === "ticket") return issueChallenge(deps, user, needed);
  await failed("mfa_required", user.id);
  throw new AuthError(needed === "verify" ? "MFA_REQUIRED" : "MFA_ENROLLMENT_REQUIRED");
}

const loginRefusalCause = {
  ACCOUNT_DISABLED: "disabled",
  TENANT_DISABLED: "tenant_disabled",
  EMAIL_NOT_VERIFIED: "unverified",
  NO_ROLES: "no_roles",
} as const;

/**
 * Creates a session for a user who just proved who they are, and issues its first tokens. `user`
 * must come from a PostgreSQL read made for this request: its session epoch is what the store
 * checks (see session-epoch.ts). SESSION_REVOKED when a change to the account finished after that
 * read, ACCOUNT_DISABLED when the user has been disabled since. `amr` says how the user proved who
 * they are; the session keeps it for the tokens of every refresh. With `copyMarks` (read before
 * `user`), a copy of `user` is kept for Refresh in the same step (SessionStore `keepCopy`): pass
 * them only for a user their tenant's policy admitted.
 */
export async function startSession(
  deps: AuthDeps,
  ctx: RequestContext,
  user: User,
  amr: readonly AuthMethod[] = PASSWORD_ONLY,
  copyMarks?: CopyMarks,
): Promise<IssuedTokens> {
  const now = deps.clock.now();
  const sessionId = newSessionId();
  const secret = newSecret();
  const { refreshTokenTtlMs, sessionMaxLifetimeMs } = deps.policy;
  const idleTtlMs = Math.min(refreshTokenTtlMs, sessionMaxLifetimeMs);
  const outcome = await deps.sessions.create({
    id: sessionId,
    userId: user.id,
    tenant: user.tenant,
    secretHash: hashSecret(secret),
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    createdAt: now,
    absoluteExpiresAt: now + sessionMaxLifetimeMs,
    idleTtlMs,
    epoch: user.sessionEpoch,
    amr,
    ...(copyMarks === undefined ? {} : { keepCopy: { user, marks: copyMarks } }),
  });
  if (outcome === "disabled") throw new AuthError("ACCOUNT_DISABLED");
  if (outcome === "stale") throw supersededByAccountChange();
  // A user keeps at most SESSIONS_PER_USER_MAX sessions (without a limit, one account logging in
  // in a loop grew Redis and ListSessions without end): the oldest go, down to 90 % of the limit,
  // so that a user at the limit pays the walk of their sessions once every tenth sign-in. After the
  // answer (a user listed with thousands of sessions from before the limit took seconds), best
  // effort: a failure is logged, and the next sign-in trims again.
  const max = deps.policy.sessionsPerUserMax;
  if (max > 0) {
    deps.background.defer(ctx, "session limit", async () => {
      await deps.sessions.keepNewest(user.id, max, max - Math.floor(max / 10));
    });
  }
  return issueTokens(deps, user, sessionId, secret, idleTtlMs, now, amr, ctx.api);
}

/** The claims of an access token for the user's session, from a fresh read of the user and how the session began (`amr`). */
export function accessClaimsFor(user: User, sessionId: string, amr: readonly string[]): TokenSubject {
  return {
    userId: user.id,
    userNumber: user.number,
    tenant: user.tenant,
    sessionId,
    roles: user.roles,
    email: user.email,
    emailVerified: user.emailVerifiedAt !== null,
    username: user.username,
    amr,
  };
}

/**
 * Signs an access token for the session (in the legacy profile of `api` when one is configured, on
 * that API's routes) and packs the response.
 */
export async function issueTokens(
  deps: AuthDeps,
  user: User,
  sessionId: string,
  secret: string,
  refreshTtlMs: number,
  now: number,
  amr: readonly string[],
  api?: OldApi,
): Promise<IssuedTokens> {
  const { token, expiresAt } = await deps.tokens.issue(accessClaimsFor(user, sessionId, amr), now, undefined, api);
  return {
    accessToken: token,
    refreshToken: formatRefreshToken(user.id, sessionId, secret),
    expiresIn: Math.max(0, expiresAt - Math.floor(now / 1000)),
    refreshExpiresIn: Math.floor(refreshTtlMs / 1000),
    user,
  };
}
