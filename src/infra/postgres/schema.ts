/** The PostgreSQL tables as Kysely sees them; rows are mapped to domain types in the repositories. */
import type { ColumnType, Generated } from "kysely";

type Timestamp = ColumnType<Date, Date | undefined, Date>;

export interface TenantsTable {
  id: string;
  name: string;
  created_at: Timestamp;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  email: string;
  /** Lowercased email: the unique, case-insensitive key within a tenant. */
  email_normalized: string;
  username: string | null;
  username_normalized: string | null;
  full_name: string | null;
  password_hash: string;
  is_active: Generated<boolean>;
  email_verified_at: Date | null;
  password_changed_at: Date;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface RolesTable {
  tenant_id: string;
  name: string;
  /** Module-specific permissions, e.g. `{"reports": {"view": true}}`. */
  permissions: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Timestamp;
}

export interface UserRolesTable {
  user_id: string;
  tenant_id: string;
  role_name: string;
  assigned_at: Timestamp;
}

export interface OneTimeTokensTable {
  id: string;
  user_id: string;
  tenant_id: string;
  purpose: "verify_email" | "reset_password";
  token_hash: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: Timestamp;
}

export interface AuditEventsTable {
  id: Generated<string>;
  type: string;
  tenant_id: string;
  user_id: string | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: ColumnType<Record<string, unknown>, string, string>;
  created_at: Timestamp;
}

export interface SigningKeysTable {
  kid: string;
  algorithm: string;
  public_jwk: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  private_key_sealed: string;
  created_at: Timestamp;
  activated_at: Date;
  retired_at: Date | null;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  roles: RolesTable;
  user_roles: UserRolesTable;
  one_time_tokens: OneTimeTokensTable;
  audit_events: AuditEventsTable;
  signing_keys: SigningKeysTable;
}
