/**
 * The AdminService handlers, shared by every transport: each converts the request, calls one
 * administration flow and converts the result. A method missing here is a compile error.
 */
import type { AdminFlows } from "../domain/admin/flows.js";
import type { AuthPolicy } from "../domain/ports.js";
import { AdminService } from "../gen/auth/admin/v1/admin_pb.js";
import {
  auditEventToProto,
  dateFromTimestamp,
  numberFromInt64,
  roleToProto,
  tenantPolicyFromProto,
  tenantToProto,
} from "./admin-convert.js";
import { userToProto } from "./convert.js";
import { type ServedService, type ServiceHandlers, serveService } from "./services.js";

type AdminHandlers = ServiceHandlers<typeof AdminService>;

/** Every AdminService RPC: the four groups below together, checked complete. */
export function adminServiceHandlers(flows: AdminFlows, servicePolicy: AuthPolicy) {
  return {
    ...tenantHandlers(flows, servicePolicy),
    ...userHandlers(flows),
    ...roleHandlers(flows),
    ...auditHandlers(flows),
  } satisfies AdminHandlers;
}

function tenantHandlers(flows: AdminFlows, servicePolicy: AuthPolicy) {
  // A tenant's policy in force needs the service's settings where the tenant has none of its own.
  const tenant = (t: Parameters<typeof tenantToProto>[0]) => tenantToProto(t, servicePolicy);
  return {
    async createTenant(req, ctx) {
      const created = await flows.createTenant(ctx, {
        id: req.id,
        displayName: req.displayName,
        policy: tenantPolicyFromProto(req.policy),
      });
      return { tenant: tenant(created) };
    },
    async getTenant(req, ctx) {
      return { tenant: tenant(await flows.getTenant(ctx, { tenant: req.tenant })) };
    },
    async listTenants(req, ctx) {
      const { tenants, nextPageToken } = await flows.listTenants(ctx, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { tenants: tenants.map(tenant), nextPageToken };
    },
    async updateTenant(req, ctx) {
      const updated = await flows.updateTenant(ctx, {
        tenant: req.tenant,
        displayName: req.displayName,
        policy: tenantPolicyFromProto(req.policy),
      });
      return { tenant: tenant(updated) };
    },
    async disableTenant(req, ctx) {
      const result = await flows.disableTenant(ctx, { tenant: req.tenant });
      return { tenant: tenant(result.tenant), sessionsEnded: result.sessionsEnded };
    },
    async enableTenant(req, ctx) {
      return { tenant: tenant(await flows.enableTenant(ctx, { tenant: req.tenant })) };
    },
  } satisfies Partial<AdminHandlers>;
}

function userHandlers(flows: AdminFlows) {
  return {
    async createUser(req, ctx) {
      const user = await flows.createUser(ctx, {
        tenant: req.tenant,
        email: req.email,
        username: req.username,
        fullName: req.fullName,
        password: req.password,
        invite: req.invite,
        roles: req.roles,
        emailVerified: req.emailVerified,
        attributes: req.attributes,
        number: req.number === undefined ? undefined : numberFromInt64(req.number),
      });
      return { user: userToProto(user) };
    },
    async getUser(req, ctx) {
      return {
        user: userToProto(await flows.getUser(ctx, { tenant: req.tenant, userId: req.userId, number: numberFromInt64(req.number) })),
      };
    },
    async listUsers(req, ctx) {
      const { users, nextPageToken } = await flows.listUsers(ctx, {
        tenant: req.tenant,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        emailPrefix: req.emailPrefix,
        usernamePrefix: req.usernamePrefix,
        role: req.role,
        active: req.active,
      });
      return { users: users.map(userToProto), nextPageToken };
    },
    async updateUser(req, ctx) {
      const user = await flows.updateUser(ctx, {
        tenant: req.tenant,
        userId: req.userId,
        email: req.email,
        username: req.username,
        fullName: req.fullName,
        attributes: req.attributes,
        emailVerified: req.emailVerified,
      });
      return { user: userToProto(user) };
    },
    async disableUser(req, ctx) {
      const { user, sessionsEnded } = await flows.disableUser(ctx, { tenant: req.tenant, userId: req.userId });
      return { user: userToProto(user), sessionsEnded };
    },
    async enableUser(req, ctx) {
      return { user: userToProto(await flows.enableUser(ctx, { tenant: req.tenant, userId: req.userId })) };
    },
    async deleteUser(req, ctx) {
      return { sessionsEnded: await flows.deleteUser(ctx, { tenant: req.tenant, userId: req.userId }) };
    },
    async setUserRoles(req, ctx) {
      return { user: userToProto(await flows.setUserRoles(ctx, { tenant: req.tenant, userId: req.userId, roles: req.roles })) };
    },
    async endUserSessions(req, ctx) {
      return { sessionsEnded: await flows.endUserSessions(ctx, { tenant: req.tenant, userId: req.userId }) };
    },
    async unlockUser(req, ctx) {
      return {
        countersCleared: await flows.unlockUser(ctx, { tenant: req.tenant, userId: req.userId, clientAddress: req.clientAddress }),
      };
    },
    async resetUserMfa(req, ctx) {
      return { factorsRemoved: await flows.resetUserMfa(ctx, { tenant: req.tenant, userId: req.userId }) };
    },
  } satisfies Partial<AdminHandlers>;
}

function roleHandlers(flows: AdminFlows) {
  return {
    async createRole(req, ctx) {
      const role = await flows.createRole(ctx, {
        tenant: req.tenant,
        name: req.name,
        description: req.description,
        permissions: req.permissions,
      });
      return { role: roleToProto(role) };
    },
    async listRoles(req, ctx) {
      const { roles, nextPageToken } = await flows.listRoles(ctx, { tenant: req.tenant, pageSize: req.pageSize, pageToken: req.pageToken });
      return { roles: roles.map(roleToProto), nextPageToken };
    },
    async updateRole(req, ctx) {
      const role = await flows.updateRole(ctx, {
        tenant: req.tenant,
        name: req.name,
        description: req.description,
        permissions: req.permissions,
      });
      return { role: roleToProto(role) };
    },
    async deleteRole(req, ctx) {
      return { usersAffected: await flows.deleteRole(ctx, { tenant: req.tenant, name: req.name }) };
    },
  } satisfies Partial<AdminHandlers>;
}

function auditHandlers(flows: AdminFlows) {
  return {
    async listAuditEvents(req, ctx) {
      const { events, nextPageToken } = await flows.listAuditEvents(ctx, {
        tenant: req.tenant,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        userId: req.userId,
        type: req.type,
        since: dateFromTimestamp(req.since),
        until: dateFromTimestamp(req.until),
      });
      return { events: events.map(auditEventToProto), nextPageToken };
    },
  } satisfies Partial<AdminHandlers>;
}

/** AdminService, served by the administration flows. */
export function adminService(flows: AdminFlows, servicePolicy: AuthPolicy): ServedService {
  return serveService(AdminService, adminServiceHandlers(flows, servicePolicy));
}
