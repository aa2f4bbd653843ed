/**
 * The ports the administration flows need beyond the AuthService's: user administration, roles,
 * the audit trail read back, and second factors. Domain types only; adapters in src/infra.
 */
import type { User } from "../model.js";
import type { AuthDeps } from "../ports.js";

export interface UserFilter {
  /** Lowercased; matched against the start of the normalized email. */
  readonly emailPrefix?: string;
  /** Lowercased; matched against the start of the normalized username. */
  readonly usernamePrefix?: string;
  readonly role?: string;
  readonly active?: boolean;
}

export interface UserChanges {
  readonly email?: string;
  /** Null removes it. */
  readonly username?: string | null;
  /** Null removes it. */
  readonly fullName?: string | null;
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** Null: unverified. */
  readonly emailVerifiedAt?: Date | null;
}

export type UserRef = { readonly id: string } | { readonly number: number };

export interface UserDirectory {
  /** The user when they belong to `tenant`; null otherwise (another tenant's user is not found). */
  find(tenant: string, ref: UserRef): Promise<User | null>;
  /** Users in the order of their numbers, after `afterNumber`. */
  list(tenant: string, filter: UserFilter, afterNumber: number | null, limit: number): Promise<User[]>;
  /** Throws AuthError EMAIL_TAKEN or USERNAME_TAKEN on a duplicate; null when the user is gone. */
  update(userId: string, changes: UserChanges, at: Date): Promise<User | null>;
  /** Replaces the user's roles, in order; throws AuthError ROLE_NOT_FOUND for a role the tenant lacks. */
  setRoles(userId: string, tenant: string, roles: readonly string[], at: Date): Promise<User | null>;
  /**
   * Removes the user with their roles and one-time tokens, and the email addresses audit events
   * recorded about them (the events keep the user id). Returns the user's session epoch raised
   * past the last one stored (for `endUserAccess`: a request that read the user before the delete
   * cannot start a session after it), or null when there was no such user.
   */
  delete(userId: string): Promise<number | null>;
  /** Ids of the tenant's users in id order after `afterId`, for work over a whole tenant. */
  ids(tenant: string, afterId: string | null, limit: number): Promise<string[]>;
}

export interface Role {
  readonly name: string;
  readonly description: string;
  readonly permissions: Readonly<Record<string, unknown>>;
  readonly userCount: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface RoleStore {
  /**
   * Throws AuthError ROLE_EXISTS when the tenant has a role of that name, and INVALID_PERMISSIONS
   * when the tenant's roles would then hold more than `maxTenantBytes` of permissions together.
   */
  create(
    tenant: string,
    role: { readonly name: string; readonly description: string; readonly permissions: Readonly<Record<string, unknown>> },
    at: Date,
    maxTenantBytes: number,
  ): Promise<Role>;
  /** Roles in the order of their names, after `afterName`. */
  list(tenant: string, afterName: string | null, limit: number): Promise<Role[]>;
  /** The names among `names` that the tenant has. */
  existing(tenant: string, names: readonly string[]): Promise<string[]>;
  /**
   * Null when the role does not exist. INVALID_PERMISSIONS when new permissions would grow the
   * tenant's roles past `maxTenantBytes` together (a change that does not grow them always passes).
   */
  update(
    tenant: string,
    name: string,
    changes: { readonly description?: string; readonly permissions?: Readonly<Record<string, unknown>> },
    at: Date,
    maxTenantBytes: number,
  ): Promise<Role | null>;
  /** Deletes the role and takes it from its users; how many users held it, or null when it did not exist. */
  delete(tenant: string, name: string): Promise<number | null>;
}

export interface AuditRecord {
  /** A bigint, as a decimal string. */
  readonly id: string;
  readonly type: string;
  readonly tenant: string;
  readonly userId: string | null;
  readonly actorId: string | null;
  readonly sessionId: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly createdAt: Date;
}

export interface AuditQuery {
  readonly tenant: string;
  readonly userId?: string;
  readonly type?: string;
  readonly since?: Date;
  readonly until?: Date;
  /** Only events with a smaller id (the previous page's last). */
  readonly beforeId?: string;
  readonly limit: number;
}

export interface AuditTrail {
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditRecord[]>;
}

/** Everything an administration flow may use. */
export interface AdminDeps extends AuthDeps {
  readonly directory: UserDirectory;
  readonly roles: RoleStore;
  readonly audit: AuditTrail;
}
