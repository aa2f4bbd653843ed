/** The PostgreSQL tables as Kysely sees them; rows are mapped to domain types in the repositories. */
import type { ColumnType, Generated } from "kysely";

type Timestamp = ColumnType<Date, Date | undefined, Date>;

export interface TenantsTable {
  id: string;
  /** The display name. */
  name: string;
  is_active: Generated<boolean>;
  /** Null: follows PASSWORD_MIN_LENGTH. */
  password_min_length: number | null;
  /** Null: follows REQUIRE_VERIFIED_EMAIL. */
  verified_email_required: boolean | null;
  roles_required: Generated<boolean>;
  mfa_required: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UsersTable {
  id: string;
  /** bigint identity: pg returns it as a string. */
  number: ColumnType<string | number, number | undefined, never>;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
  tenant_id: string;
  /** As typed (trimmed, NFKC): what is shown, put in tokens and mailed to. */
  email: string;
  /**
   * The key (domain/identifiers.ts: NFKC, case fold, ASCII domain), unique per tenant. Null only on
   * a row the 0004 migration or `identifier-conflicts --renormalize` found colliding with an
   * earlier user's key: that row cannot be found by this email until an operator resolves it.
   */
  email_normalized: string | null;
  /** UTS #39 skeleton of the local part, then `@` and the ASCII domain; unique per tenant (null on a flagged row). */
  email_skeleton: string | null;
  username: string | null;
  /** Key of the username (NFKC, case fold), unique per tenant. */
  username_normalized: string | null;
  /** UTS #39 skeleton of the username, unique per tenant. */
  username_skeleton: string | null;
  full_name: string | null;
  password_hash: string;
  is_active: Generated<boolean>;
  /** Raised by every change that ends the user's access, in the same statement as the change. */
  session_epoch: Generated<number>;
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
  description: Generated<string>;
  created_at: Timestamp;
  updated_at: Timestamp;
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
  actor_id: string | null;
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

/** Identifier collisions found when keys were recomputed, for an operator (`authward identifier-conflicts`). */
export interface IdentifierConflictsTable {
  /** The later user, whose key or skeleton was left null. */
  user_id: string;
  field: "email" | "username";
  /** same_key: one key, two users; confusable: one skeleton; refused: holds a character no identifier may. */
  kind: "same_key" | "confusable" | "refused";
  /** The earlier user who kept the key or skeleton (null for refused). */
  other_user_id: string | null;
  tenant_id: string;
  detected_at: Timestamp;
}

/** A user's TOTP factor; see the 0007 migration. */
export interface MfaFactorsTable {
  user_id: string;
  tenant_id: string;
  type: Generated<"totp">;
  secret_sealed: string;
  created_at: Timestamp;
  confirmed_at: Date | null;
  enrollment_expires_at: Date | null;
  /** bigint: pg returns it as a string. */
  last_used_step: ColumnType<string | null, number | null, number | null>;
}

export interface MfaRecoveryCodesTable {
  user_id: string;
  code_hash: string;
  created_at: Date;
  used_at: Date | null;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  roles: RolesTable;
  user_roles: UserRolesTable;
  one_time_tokens: OneTimeTokensTable;
  audit_events: AuditEventsTable;
  signing_keys: SigningKeysTable;
  identifier_conflicts: IdentifierConflictsTable;
  mfa_factors: MfaFactorsTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
}
