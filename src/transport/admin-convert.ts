/** Converters between the administration's domain values and auth.admin.v1 messages, named by direction. */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AuditRecord, Role } from "../domain/admin/ports.js";
import type { TenantPolicyInput } from "../domain/admin/tenants.js";
import type { AuthPolicy } from "../domain/ports.js";
import { policyInForce, type Tenant } from "../domain/tenants.js";
import type { AuditEventSchema, TenantPolicy as ProtoTenantPolicy, RoleSchema, TenantSchema } from "../gen/auth/admin/v1/admin_pb.js";

export function tenantToProto(tenant: Tenant, service: AuthPolicy): MessageInitShape<typeof TenantSchema> {
  const policy = policyInForce(tenant.settings, service);
  return {
    id: tenant.id,
    displayName: tenant.displayName,
    isActive: tenant.isActive,
    policy: {
      passwordMinLength: policy.passwordMinLength,
      verifiedEmailRequired: policy.verifiedEmailRequired,
      rolesRequired: policy.rolesRequired,
      mfaRequired: policy.mfaRequired,
    },
    createdAt: timestampFromDate(tenant.createdAt),
    updatedAt: timestampFromDate(tenant.updatedAt),
  };
}

/** The policy fields a request sets (unset optional fields stay unset). */
export function tenantPolicyFromProto(policy: ProtoTenantPolicy | undefined): TenantPolicyInput | undefined {
  if (policy === undefined) return undefined;
  return {
    ...(policy.passwordMinLength === undefined ? {} : { passwordMinLength: policy.passwordMinLength }),
    ...(policy.verifiedEmailRequired === undefined ? {} : { verifiedEmailRequired: policy.verifiedEmailRequired }),
    ...(policy.rolesRequired === undefined ? {} : { rolesRequired: policy.rolesRequired }),
    ...(policy.mfaRequired === undefined ? {} : { mfaRequired: policy.mfaRequired }),
  };
}

export function roleToProto(role: Role): MessageInitShape<typeof RoleSchema> {
  return {
    name: role.name,
    description: role.description,
    permissions: role.permissions as JsonObject,
    userCount: role.userCount,
    createdAt: timestampFromDate(role.createdAt),
    updatedAt: timestampFromDate(role.updatedAt),
  };
}

export function auditEventToProto(event: AuditRecord): MessageInitShape<typeof AuditEventSchema> {
  return {
    id: BigInt(event.id),
    type: event.type,
    tenant: event.tenant,
    userId: event.userId ?? "",
    actorId: event.actorId ?? "",
    sessionId: event.sessionId ?? "",
    ip: event.ip ?? "",
    userAgent: event.userAgent ?? "",
    details: event.details as JsonObject,
    createdAt: timestampFromDate(event.createdAt),
  };
}

/** An int64 as a JS number; NaN beyond 2^53, which the domain then refuses rather than rounding. */
export function numberFromInt64(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(value);
}

/** A Timestamp as a Date; an invalid Date (which the flows refuse) for nanos outside 0 to 999,999,999. */
export function dateFromTimestamp(timestamp: Timestamp | undefined): Date | undefined {
  if (timestamp === undefined) return undefined;
  if (!Number.isInteger(timestamp.nanos) || timestamp.nanos < 0 || timestamp.nanos > 999_999_999) return new Date(Number.NaN);
  return timestampDate(timestamp);
}
