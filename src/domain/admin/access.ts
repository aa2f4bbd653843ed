/**
 * Ending a user's access as the administration does it ("end sessions", deleting a user, disabling
 * a tenant): the session epoch is raised in PostgreSQL first, then every session of the user ends
 * in one Redis step (session-epoch.ts), so that no request that read the user before can leave a
 * session behind or start one afterwards. Disabling and enabling a user are the user-status flows
 * (user-status.ts), which do the same with the active flag.
 */
import type { AuthDeps } from "../ports.js";
import { endUserAccess } from "../user-status.js";

/** Ends every session of the user now and for any request already in flight; how many ended. */
export async function endSessionsOf(deps: Pick<AuthDeps, "users" | "sessions">, userId: string): Promise<number> {
  const epoch = await deps.users.raiseSessionEpoch(userId);
  if (epoch === null) return 0;
  return endUserAccess(deps, userId, epoch, false);
}
