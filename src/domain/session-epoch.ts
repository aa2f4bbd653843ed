/**
 * The session epoch: after a change that ends a user's access returns (a password change or
 * reset, "log out everywhere", disabling the user), no request that started before it may leave a
 * session of that user behind, or create or extend one later.
 *
 * The race it closes: a Login reads the user (old password hash) from PostgreSQL, spends a bcrypt
 * verifying the password, and only then creates its session. A ChangePassword that runs in that
 * window deletes the sessions it finds, returns, and the Login then creates one with the old
 * password. Refresh (rotate) and the VidaPlus reissue (touch) have the same window between
 * reading the user and writing Redis.
 *
 * How:
 * - PostgreSQL holds the epoch: `users.session_epoch`, raised by every such change in the same
 *   statement as the change itself (new hash, `is_active = false`; "log out everywhere" raises it
 *   alone). A request reads it with the user, in the read its decision rests on.
 * - Redis records, per user, the highest epoch whose change has finished (`{user}:st` field `e`,
 *   see infra/redis/keys.ts), and each session carries the epoch its request read (`ep`).
 * - The change, once PostgreSQL has committed it, records its epoch E in Redis and deletes every
 *   session whose `ep` is below E (but the one ChangePassword keeps), in one script.
 * - Creating a session (Login), rotating (Refresh) and touching (reissue) are scripts that refuse
 *   when the recorded epoch is above the one their request read.
 *
 * Why that suffices: take a request R that read the user before the change's PostgreSQL commit,
 * so it read an epoch below E. If R's script runs before the change's Redis step, R's session
 * carries that lower epoch and the step deletes it. If it runs after, the script sees E recorded
 * and refuses. Either way nothing R did outlives the change. A request that read the user after
 * the commit saw the new state (the new hash, the inactive flag) and the new epoch, so its session
 * is legitimate and the change keeps it. Order matters: PostgreSQL first, then Redis. The other
 * order would let a request read the new epoch while PostgreSQL still held the old hash.
 *
 * Why the epoch lives in PostgreSQL rather than only in Redis: Login learns who the user is only
 * from its PostgreSQL read, so a Redis-only epoch would need a second PostgreSQL read after it,
 * on the known-account path only. That costs time an observer can measure and tells them whether
 * an account exists. Here Login does the same reads as before, and the check costs nothing until
 * the session is created.
 *
 * What it does not cover: Redis losing the user's state key while a stale request is in flight
 * (a restart without persistence, or eviction: run Redis with `maxmemory-policy noeviction`). Its
 * sessions are lost too. If the change fails between its two steps (Redis unreachable), the
 * caller sees UNAVAILABLE and the change is not finished. Repeating it finishes it: every such
 * change raises the epoch again.
 */
import { AuthError } from "./errors.js";

/** The answer to a request whose session a concurrent change to the account ended. */
export function supersededByAccountChange(): AuthError {
  return new AuthError("SESSION_REVOKED", {
    message: "The account was changed (password, sign-out everywhere) while this request ran; sign in again.",
  });
}
