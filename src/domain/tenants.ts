/**
 * Tenants and their policy: what a tenant stores (its own choices, or none where it follows the
 * service's settings) and the policy in force for a call, which every flow that checks a password
 * or lets a user in reads.
 */
import { AuthError } from "./errors.js";
import type { AuthPolicy } from "./ports.js";

/**
 * The shortest password minimum a tenant may choose. NIST SP 800-63B asks for 8; 6 exists for user
 * bases whose old system allowed it (the Vigia API documented 6), chosen tenant by tenant.
 */
export const TENANT_PASSWORD_MIN_FLOOR = 6;
export const TENANT_PASSWORD_MIN_CEILING = 64;

/** What a tenant stores; `null` follows the service's setting (PASSWORD_MIN_LENGTH, REQUIRE_VERIFIED_EMAIL). */
export interface TenantSettings {
  readonly passwordMinLength: number | null;
  readonly verifiedEmailRequired: boolean | null;
  /** Users without any role are refused at sign-in and refresh (the Vigia API's 403). */
  readonly rolesRequired: boolean;
  /** Users without a second factor must enrol one at sign-in (Login answers mfa_enrollment_required). */
  readonly mfaRequired: boolean;
}

export interface Tenant {
  /** The slug, as in `x-tenant`. */
  readonly id: string;
  readonly displayName: string;
  readonly isActive: boolean;
  readonly settings: TenantSettings;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The policy in force in a tenant: its own settings, the service's where it has none. */
export interface TenantPolicy {
  readonly passwordMinLength: number;
  readonly verifiedEmailRequired: boolean;
  readonly rolesRequired: boolean;
  readonly mfaRequired: boolean;
}

export function policyInForce(settings: TenantSettings, service: AuthPolicy): TenantPolicy {
  return {
    passwordMinLength: settings.passwordMinLength ?? service.passwordMinLength,
    verifiedEmailRequired: settings.verifiedEmailRequired ?? service.requireVerifiedEmail,
    rolesRequired: settings.rolesRequired,
    mfaRequired: settings.mfaRequired,
  };
}

/** A tenant that does not say anything: the service's settings, roles optional. */
export const DEFAULT_TENANT_SETTINGS: TenantSettings = {
  passwordMinLength: null,
  verifiedEmailRequired: null,
  rolesRequired: false,
  mfaRequired: false,
};

/** The tenant and its policy in force; TENANT_NOT_FOUND when it does not exist. */
export async function loadTenant(
  deps: { readonly tenants: { find(id: string): Promise<Tenant | null> }; readonly policy: AuthPolicy },
  tenantId: string,
): Promise<{ tenant: Tenant; policy: TenantPolicy }> {
  const tenant = await deps.tenants.find(tenantId);
  if (tenant === null) throw new AuthError("TENANT_NOT_FOUND");
  return { tenant, policy: policyInForce(tenant.settings, deps.policy) };
}
