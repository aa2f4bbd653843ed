/**
 * Disabling and enabling a user: the flows the CLI calls today and the AdminService will call.
 *
 * Disabling sets `is_active = false` and raises the session epoch in PostgreSQL, then, in one
 * Redis step, records that epoch, ends every session of the user, and marks the user disabled (see
 * session-epoch.ts for why in that order). From then on, on every instance: ValidateToken answers
 * `active=false` with USER_DISABLED for the user's tokens; Login, Refresh and Me answer
 * ACCOUNT_DISABLED; no request that read the user before can start or extend a session.
 * Enabling sets the flag back and clears the mark. The user then signs in again.
 *
 * Deleting a user (the AdminService's) is the same shape: a PostgreSQL statement that ends the
 * user and returns a raised epoch, then `endUserAccess`.
 */
import { beforeUserChange } from "./changes.js";
import { AuthError } from "./errors.js";
import type { AuthDeps } from "./ports.js";
import { hasRefusedTextCharacter, isUserId } from "./validation.js";

/** Who acts, for the audit trail. */
export interface Actor {
  /** An operator at the command line, a tenant admin (through the AdminService), or the service itself. */
  readonly kind: "operator" | "admin" | "system";
  /** The admin's user id, or the operator's name. */
  readonly id?: string;
  readonly ip?: string;
  readonly userAgent?: string;
}

export interface UserStatusInput {
  readonly userId: string;
  readonly actor: Actor;
  /** Why, for the audit trail; at most REASON_MAX characters. */
  readonly reason?: string;
  /** Acts only on a user of this tenant (an admin acts on their own tenant only); USER_NOT_FOUND otherwise. */
  readonly tenant?: string;
}

export interface UserStatusResult {
  readonly userId: string;
  readonly tenant: string;
  /** False when the user already had this status (the Redis step ran anyway: it finishes a change that failed halfway). */
  readonly changed: boolean;
  readonly sessionsEnded: number;
}

/** What the flows use: no mail, no tokens, so that the CLI can run them with stores alone. */
export type UserStatusDeps = Pick<AuthDeps, "users" | "sessions" | "events" | "clock">;

const REASON_MAX = 500;

function userNotFound(): AuthError {
  return new AuthError("USER_NOT_FOUND", { message: "No such user." });
}

/** The reason as stored: trimmed, control characters refused, bounded. */
export function checkReason(reason: string | undefined): string | undefined {
  const trimmed = reason?.trim();
  if (trimmed === undefined || trimmed === "") return undefined;
  if (hasRefusedTextCharacter(trimmed))
    throw new AuthError("INVALID_REQUEST", {
      message: "reason: control and bidi control characters are not allowed",
      metadata: { field: "reason" },
    });
  if (trimmed.length > REASON_MAX)
    throw new AuthError("INVALID_REQUEST", { message: `reason: at most ${REASON_MAX} characters`, metadata: { field: "reason" } });
  return trimmed;
}

/** The user id, if it names a user of the required tenant; USER_NOT_FOUND otherwise. */
async function checkTarget(deps: UserStatusDeps, input: UserStatusInput): Promise<string> {
  // Anything but a UUID names nobody (and must not reach a uuid column as text).
  if (!isUserId(input.userId)) throw userNotFound();
  const userId = input.userId.toLowerCase();
  if (input.tenant !== undefined) {
    const user = await deps.users.findById(userId);
    if (user === null || user.tenant !== input.tenant) throw userNotFound();
  }
  return userId;
}

/**
 * Ends the user's access after PostgreSQL recorded a change with epoch `epoch`: every session
 * ends, and with `disable` the user is marked disabled for ValidateToken's answer.
 */
export function endUserAccess(deps: Pick<AuthDeps, "sessions">, userId: string, epoch: number, disable: boolean): Promise<number> {
  return deps.sessions.endAccess(userId, { epoch, disablesUser: disable });
}

export async function disableUser(deps: UserStatusDeps, input: UserStatusInput): Promise<UserStatusResult> {
  const reason = checkReason(input.reason);
  const userId = await checkTarget(deps, input);
  // No copy of the user kept until now is used once the flag is written (changes.ts).
  await beforeUserChange(deps, userId);
  const change = await deps.users.setActive(userId, false, new Date(deps.clock.now()));
  if (change === null) throw userNotFound();
  const sessionsEnded = await endUserAccess(deps, userId, change.sessionEpoch, true);
  await recordStatusChange(deps, "user_disabled", userId, change.tenant, input.actor, reason, { changed: change.wasActive, sessionsEnded });
  return { userId, tenant: change.tenant, changed: change.wasActive, sessionsEnded };
}

export async function enableUser(deps: UserStatusDeps, input: UserStatusInput): Promise<UserStatusResult> {
  const reason = checkReason(input.reason);
  const userId = await checkTarget(deps, input);
  await beforeUserChange(deps, userId);
  const change = await deps.users.setActive(userId, true, new Date(deps.clock.now()));
  if (change === null) throw userNotFound();
  // The epoch rose with the flag: a disable that finishes its Redis step late cannot mark the
  // user disabled again over this enable.
  await deps.sessions.restoreAccess(userId, change.sessionEpoch);
  await recordStatusChange(deps, "user_enabled", userId, change.tenant, input.actor, reason, { changed: !change.wasActive });
  return { userId, tenant: change.tenant, changed: !change.wasActive, sessionsEnded: 0 };
}

async function recordStatusChange(
  deps: UserStatusDeps,
  type: "user_disabled" | "user_enabled",
  userId: string,
  tenant: string,
  actor: Actor,
  reason: string | undefined,
  detail: Readonly<Record<string, string | number | boolean>>,
): Promise<void> {
  await deps.events.record({
    type,
    tenant,
    userId,
    // An administrator (AdminService) is the event's actor, as for every administrative change.
    ...(actor.kind === "admin" && actor.id !== undefined ? { actorId: actor.id } : {}),
    ip: actor.ip,
    userAgent: actor.userAgent,
    detail: {
      by: actor.kind,
      ...(actor.id === undefined ? {} : { actorId: actor.id }),
      ...(reason === undefined ? {} : { reason }),
      ...detail,
    },
  });
}
