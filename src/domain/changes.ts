/**
 * How a change to a user or a tenant reaches every copy and cache of them: the copy of the user
 * Refresh reads beside their sessions (ports.ts `UserCopy`), the tenant's generation that copies
 * are read under, and ValidateToken's grants.
 *
 * A change runs its PostgreSQL write between two Redis steps (`changeUser`, `changeTenant`), each
 * of which replaces the user's mark (and deletes the copy) or the tenant's generation:
 * - before the write, so that no copy kept until then is used once PostgreSQL has changed. If
 *   this step fails (Redis unreachable), the change answers UNAVAILABLE with nothing written;
 * - after the commit, which also forgets the grants, so that a copy kept while the write ran (read
 *   before the commit) goes too. If this step fails, the change answers UNAVAILABLE with
 *   PostgreSQL written, and repeating it finishes it; meanwhile only a copy kept while the write
 *   ran can be stale (SESSION_USER_TTL at most), never an older one.
 *
 * Every flow that changes what a User holds (a field, the roles, the active flag) or a tenant's
 * roles or policy goes through them. Disabling and enabling (user-status.ts, which the CLI runs
 * without grants) take the step before themselves; their step after is `sessions.endAccess` or
 * `restoreAccess`, which delete the copy too, and the AdminService adds `userChanged` for the
 * grants. Ending sessions (a password change or reset, "log out everywhere") changes nothing a
 * copy holds that Refresh uses, and `endAccess` drops the copy anyway. A consumed one-time token
 * (a verified address, a reset) names its user only once consumed: its step is after only, and
 * a copy it leaves stale says less than the truth (not verified), never more.
 */
import type { AuthDeps } from "./ports.js";

type ChangeDeps = Pick<AuthDeps, "sessions" | "grants">;

interface UserRef {
  readonly tenant: string;
  readonly userId: string;
}

/** The step before a PostgreSQL change to the user: no copy kept until now is used after it. */
export async function beforeUserChange(deps: Pick<AuthDeps, "sessions">, userId: string): Promise<void> {
  await deps.sessions.userChanged(userId);
}

/** The step after a change to the user has committed. */
export async function userChanged(deps: ChangeDeps, user: UserRef): Promise<void> {
  await deps.sessions.userChanged(user.userId);
  await deps.grants.changed(user);
}

/** Runs `write`, a PostgreSQL change to the user, between the two Redis steps; its result. */
export async function changeUser<T>(deps: ChangeDeps, user: UserRef, write: () => Promise<T>): Promise<T> {
  await beforeUserChange(deps, user.userId);
  const result = await write();
  await userChanged(deps, user);
  return result;
}

/** Runs `write`, a PostgreSQL change to the tenant's roles or policy, between the two Redis steps; its result. */
export async function changeTenant<T>(deps: ChangeDeps, tenant: string, write: () => Promise<T>): Promise<T> {
  await deps.sessions.tenantChanged(tenant);
  const result = await write();
  await deps.sessions.tenantChanged(tenant);
  await deps.grants.changed({ tenant });
  return result;
}
