/** Tenant administration: create, read, list, change the policy of, disable and enable tenants. */
import { changeTenant } from "../changes.js";
import { AuthError, invalidField } from "../errors.js";
import type { RequestContext } from "../model.js";
import type { TenantChanges } from "../ports.js";
import {
  DEFAULT_TENANT_SETTINGS,
  TENANT_PASSWORD_MIN_CEILING,
  TENANT_PASSWORD_MIN_FLOOR,
  type Tenant,
  type TenantSettings,
} from "../tenants.js";
import { validateFullName, validateTenantId } from "../validation.js";
import { endSessionsOf } from "./access.js";
import { byActor, platformActor, tenantActor } from "./authority.js";
import { decodePageToken, page, pageSize } from "./paging.js";
import type { AdminDeps } from "./ports.js";

/** Policy fields a request sets; unset ones keep their value (or take their default). */
export interface TenantPolicyInput {
  readonly passwordMinLength?: number;
  readonly verifiedEmailRequired?: boolean;
  readonly rolesRequired?: boolean;
  readonly mfaRequired?: boolean;
}

function checkPolicy(input: TenantPolicyInput | undefined): Partial<TenantSettings> {
  if (input === undefined) return {};
  const settings: { -readonly [K in keyof TenantSettings]?: TenantSettings[K] } = {};
  if (input.passwordMinLength !== undefined) {
    const length = input.passwordMinLength;
    if (!Number.isInteger(length) || length < TENANT_PASSWORD_MIN_FLOOR || length > TENANT_PASSWORD_MIN_CEILING) {
      throw invalidField("policy.password_min_length", `must be ${TENANT_PASSWORD_MIN_FLOOR} to ${TENANT_PASSWORD_MIN_CEILING}`);
    }
    settings.passwordMinLength = length;
  }
  if (input.verifiedEmailRequired !== undefined) settings.verifiedEmailRequired = input.verifiedEmailRequired;
  if (input.rolesRequired !== undefined) settings.rolesRequired = input.rolesRequired;
  if (input.mfaRequired !== undefined) settings.mfaRequired = input.mfaRequired;
  return settings;
}

function displayNameOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const name = validateFullName(value, "display_name");
  if (name === null) throw invalidField("display_name", "must not be empty");
  return name;
}

export async function createTenant(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly id: string; readonly displayName: string; readonly policy?: TenantPolicyInput },
): Promise<Tenant> {
  const actor = await platformActor(deps, ctx);
  const id = validateTenantId("id", input.id);
  const displayName = input.displayName.trim() === "" ? id : (displayNameOf(input.displayName) ?? id);
  const settings = { ...DEFAULT_TENANT_SETTINGS, ...checkPolicy(input.policy) };
  const tenant = await deps.tenants.create({ id, displayName, settings, createdAt: new Date(deps.clock.now()) });
  await deps.events.record({ type: "tenant_created", tenant: id, ...byActor(actor), detail: settingsDetail(settings) });
  return tenant;
}

export async function getTenant(deps: AdminDeps, ctx: RequestContext, input: { readonly tenant: string }): Promise<Tenant> {
  return (await tenantActor(deps, ctx, input.tenant)).tenant;
}

export async function listTenants(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly pageSize: number; readonly pageToken: string },
): Promise<{ tenants: Tenant[]; nextPageToken: string }> {
  await platformActor(deps, ctx);
  const limit = pageSize(input.pageSize);
  const after = decodePageToken(input.pageToken, "tenants", /^[a-z0-9-]{1,64}$/);
  const rows = await deps.tenants.list(after, limit + 1);
  const { items, nextPageToken } = page(rows, limit, (t) => t.id, "tenants");
  return { tenants: items, nextPageToken };
}

export async function updateTenant(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly displayName?: string; readonly policy?: TenantPolicyInput },
): Promise<Tenant> {
  const actor = await platformActor(deps, ctx);
  const id = validateTenantId("tenant", input.tenant);
  const changes: TenantChanges = { displayName: displayNameOf(input.displayName), settings: checkPolicy(input.policy) };
  const at = new Date(deps.clock.now());
  const tenant = await changeTenant(deps, id, () => deps.tenants.update(id, changes, at));
  if (tenant === null) throw new AuthError("TENANT_NOT_FOUND");
  await deps.events.record({
    type: "tenant_updated",
    tenant: id,
    ...byActor(actor),
    detail: {
      ...settingsDetail(changes.settings ?? {}),
      ...(changes.displayName !== undefined ? { displayName: changes.displayName } : {}),
    },
  });
  return tenant;
}

/** How many users' ids are read per round trip when a whole tenant is disabled. */
const BATCH = 500;
/**
 * How many users' sessions are ended at once: one by one, a tenant of 100,000 users took minutes
 * (a PostgreSQL update and a Redis script each) while its sessions stayed valid; 16 keep both
 * stores busy without queueing the rest of the service behind the database pool.
 */
const IN_FLIGHT = 16;

export async function disableTenant(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string },
): Promise<{ tenant: Tenant; sessionsEnded: number }> {
  const actor = await platformActor(deps, ctx);
  const id = validateTenantId("tenant", input.tenant);
  if (id === deps.policy.platformTenant) throw new AuthError("TENANT_PROTECTED");
  // Disabled first, so that no new session starts while the existing ones are being ended.
  const at = new Date(deps.clock.now());
  const tenant = await changeTenant(deps, id, () => deps.tenants.update(id, { isActive: false }, at));
  if (tenant === null) throw new AuthError("TENANT_NOT_FOUND");
  let sessionsEnded = 0;
  for (let after: string | null = null; ; ) {
    const ids = await deps.directory.ids(id, after, BATCH);
    for (let i = 0; i < ids.length; i += IN_FLIGHT) {
      const ended = await Promise.all(ids.slice(i, i + IN_FLIGHT).map((userId) => endSessionsOf(deps, userId)));
      for (const count of ended) sessionsEnded += count;
    }
    if (ids.length < BATCH) break;
    after = ids[ids.length - 1] ?? null;
  }
  await deps.events.record({ type: "tenant_disabled", tenant: id, ...byActor(actor), detail: { sessionsEnded } });
  return { tenant, sessionsEnded };
}

export async function enableTenant(deps: AdminDeps, ctx: RequestContext, input: { readonly tenant: string }): Promise<Tenant> {
  const actor = await platformActor(deps, ctx);
  const id = validateTenantId("tenant", input.tenant);
  const at = new Date(deps.clock.now());
  const tenant = await changeTenant(deps, id, () => deps.tenants.update(id, { isActive: true }, at));
  if (tenant === null) throw new AuthError("TENANT_NOT_FOUND");
  await deps.events.record({ type: "tenant_enabled", tenant: id, ...byActor(actor) });
  return tenant;
}

function settingsDetail(settings: Partial<TenantSettings>): Record<string, string | number | boolean> {
  const detail: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(settings)) if (value !== undefined && value !== null) detail[key] = value;
  return detail;
}
