/**
 * The SessionStore port: sessions and refresh-token rotation in one atomic store (Redis in
 * src/infra/redis/sessions.ts), with the per-user epoch that ends access everywhere at once.
 * Re-exported by ports.ts with the other ports.
 */
import type { SessionInfo, User } from "./model.js";

export interface NewSession {
  readonly id: string;
  readonly userId: string;
  readonly tenant: string;
  readonly secretHash: string;
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
  readonly createdAt: number;
  /** The absolute cap: the session ends then, however often it is refreshed. */
  readonly absoluteExpiresAt: number;
  /** Idle lifetime: the session ends if not refreshed within this. */
  readonly idleTtlMs: number;
  /** The user's session epoch, read from PostgreSQL together with what this session rests on. */
  readonly epoch: number;
  /** How the user proved who they are (RFC 8176 `amr`); every token of the session carries it. */
  readonly amr: readonly string[];
  /**
   * Keep this copy of the user beside the sessions with the session, in the same step, unless the
   * user's mark moved since `marks` were read (see `keepCopy`); the session is created either way.
   */
  readonly keepCopy?: { readonly user: User; readonly marks: CopyMarks };
}

export type CreateOutcome =
  | "created"
  /** A change that ended the user's access was recorded after the epoch this request read. */
  | "stale"
  /** The user is marked disabled. */
  | "disabled";

export interface RotateRequest {
  /**
   * `rotate`: the presented secret is replaced. `keep`: it stays current and the session is only
   * marked used (the compatibility routes of APIs whose clients never store a new refresh token).
   */
  readonly mode: "rotate" | "keep";
  readonly userId: string;
  readonly sessionId: string;
  readonly presentedHash: string;
  readonly nextHash: string;
  /** The next secret, encrypted under a key only the holder of the presented secret can derive. */
  readonly sealedNext: string;
  readonly now: number;
  readonly graceMs: number;
  readonly idleTtlMs: number;
  /**
   * The user's session epoch, read from PostgreSQL with the user the new tokens describe; or
   * undefined to rotate on the copy of the user kept beside the sessions (`UserCopy`): nothing
   * changes then unless a usable copy is there, which the outcome carries.
   */
  readonly epoch: number | undefined;
  /** The `x-tenant` the caller named: a session of another tenant is refused, unchanged. */
  readonly tenantHeader?: string;
  /** With `epoch`: keep this copy of the user beside the sessions, unless the user's mark moved since `marks` were read. */
  readonly keepCopy?: { readonly user: User; readonly marks: CopyMarks };
}

/**
 * The user as kept beside their sessions, so that Refresh needs no PostgreSQL read (refresh.ts):
 * written at login and by a refresh that read PostgreSQL, deleted by every change to the user
 * (`userChanged`, and every `endAccess`), and trusted only while the tenant's generation is the
 * one it was read under (`tenantChanged`: a role's permissions, the tenant's policy).
 */
export interface UserCopy {
  readonly user: User;
  readonly tenantGeneration: string;
}

/** What a writer of a copy read before reading the user from PostgreSQL; the copy is kept only if the user's mark has not moved since. */
export interface CopyMarks {
  readonly userChange: string;
  readonly tenantGeneration: string;
}

/** A rotation that went through: the session's new idle lifetime, how it began (`amr`), and the copy it ran on. */
interface Rotated {
  readonly ttlMs: number;
  readonly amr: readonly string[];
  /** Without `epoch`: the copy of the user (undefined if it did not read back). */
  readonly copy?: UserCopy;
}

export type RotateOutcome =
  /** The presented secret was current: it is now the previous one and `nextHash` is current. */
  | ({ readonly kind: "rotated" } & Rotated)
  /** Keep mode: the presented secret was current and stays so. */
  | ({ readonly kind: "kept" } & Rotated)
  /** The presented secret was rotated less than the grace window ago: here is its successor, sealed, and the current digest it opens to. */
  | ({ readonly kind: "grace"; readonly sealedNext: string; readonly currentHash: string } & Rotated)
  /** Without `epoch`: no usable copy of the user; nothing changed. Read the user, then rotate with `epoch`. */
  | { readonly kind: "userNeeded"; readonly tenant: string; readonly userChange: string }
  /** The session belongs to another tenant than the caller's `x-tenant`; nothing changed. */
  | { readonly kind: "tenantMismatch" }
  /** The presented secret was rotated before the grace window: the session was deleted. */
  | { readonly kind: "reused"; readonly userId: string; readonly tenant: string }
  /** The session exists but the secret was never one of its tokens. */
  | { readonly kind: "mismatch" }
  /** No such session (expired, ended, or never existed); `userDisabled` when the disable of its user ended this very session. */
  | { readonly kind: "missing"; readonly userDisabled: boolean }
  /** Nothing changed: a change that ended the user's access was recorded after the epoch this request read. */
  | { readonly kind: "stale" };

/** What the store knows of a session and its user, in one round trip. */
export interface SessionLookup {
  /** The session's tenant; null when the session is gone. */
  readonly tenant: string | null;
  /** The disable of the user ended this very session (so a token of it is told ACCOUNT_DISABLED). */
  readonly userDisabled: boolean;
  /** How the session began (`amr`); ["pwd"] for a session older than the field, none for a missing one. */
  readonly amr: readonly string[];
}

/** A change that ends a user's access, as the session store records it. */
export interface AccessEnd {
  /** The user's session epoch after the change, as PostgreSQL returned it. */
  readonly epoch: number;
  /** The one session that survives (ChangePassword keeps the caller's). */
  readonly keepSessionId?: string;
  /** Marks the user disabled, so that ValidateToken can say why their tokens stopped working. */
  readonly disablesUser?: boolean;
}

/**
 * Sessions, keyed by user: every operation names the user, so that all the keys one operation
 * touches live together (one Redis Cluster slot per user).
 */
export interface SessionStore {
  /** Starts a session, unless a later change ended the user's access or the user is disabled. */
  create(session: NewSession): Promise<CreateOutcome>;
  lookup(userId: string, sessionId: string): Promise<SessionLookup>;
  /** The user of a session named by a refresh token of the earlier two-part shape; null when unknown. */
  legacyOwner(sessionId: string): Promise<string | null>;
  /** The user's live sessions. */
  list(userId: string, now: number): Promise<SessionInfo[]>;
  /** One atomic step: compare, rotate, detect reuse. */
  rotate(request: RotateRequest): Promise<RotateOutcome>;
  /**
   * Marks the session used now (its idle lifetime restarts); its remaining lifetime in ms, null if
   * it is gone, "stale" (and nothing changed) when a change was recorded after `epoch`.
   */
  touch(userId: string, sessionId: string, now: number, idleTtlMs: number, epoch: number): Promise<number | null | "stale">;
  /** The hot path: one round trip. */
  isActive(userId: string, sessionId: string): Promise<boolean>;
  isUserDisabled(userId: string): Promise<boolean>;
  /** Ends one session; true when it existed. */
  revoke(userId: string, sessionId: string): Promise<boolean>;
  /**
   * When the user has more than `max` sessions, ends the oldest (by start) beyond the newest
   * `keep` (at most `max`); returns how many ended.
   */
  keepNewest(userId: string, max: number, keep: number): Promise<number>;
  /**
   * Records a change that ended the user's access and, in the same atomic step, ends every session
   * that rests on an older epoch (but `keepSessionId`); returns how many ended.
   */
  endAccess(userId: string, change: AccessEnd): Promise<number>;
  /** Clears the disabled mark set by an `endAccess` with an epoch below this one. */
  restoreAccess(userId: string, epoch: number): Promise<void>;
  /** The marks a copy of the user must be read under: read them before reading the user from PostgreSQL. */
  copyMarks(userId: string, tenant: string): Promise<CopyMarks>;
  /**
   * Keeps a copy of the user beside their sessions, unless the user changed since `marks` were
   * read. Only of a user their tenant's policy admits, as read after `marks` (a user without roles
   * in a tenant that requires them is never kept: Refresh would let them in on it).
   */
  keepCopy(user: User, marks: CopyMarks): Promise<void>;
  /** The user changed (after PostgreSQL committed it): the copy beside their sessions goes. */
  userChanged(userId: string): Promise<void>;
  /** The tenant's roles or policy changed: every copy of its users read before is no longer trusted. */
  tenantChanged(tenant: string): Promise<void>;
  /**
   * The tenant's generation now (see UserCopy), never "": a missing one (never written, or lost
   * with Redis's data) is created with a new random value, so it matches no copy kept before.
   */
  tenantGeneration(tenant: string): Promise<string>;
}
