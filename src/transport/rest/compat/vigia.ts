/**
 * The Vigia API (seed 001): `/api/v1/auth/login` (OAuth2 password form, `X-Tenant`, or legacy mode
 * without it), `/me`, `/whoami`, `/change-password` and the admin-only `/reset-password`. With
 * LEGACY_TOKEN_VIGIA_SECRET set, login issues Vigia's own tokens (HS256, the claims of its
 * example; see infra/crypto/legacy-tokens.ts), and these routes accept them.
 */
import { AuthError } from "../../../domain/errors.js";
import { primaryRole, rolesAdminFirst, type User } from "../../../domain/model.js";
import { readForm, readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { type CompatDoc, type CompatOptions, compatRoute, fastApiErrors, schema, text } from "./common.js";

/** The OpenAPI document's tag of this API's routes. */
export const VIGIA_API = {
  name: "Vigia (seed 001)",
  description:
    "Routes compatible with the Vigia API: an OAuth2 password form with X-Tenant (or legacy mode without it), /me, /whoami, password changes and an admin's resets.",
} as const;

const invalidToken = "Could not validate credentials";
const messages = {
  INVALID_CREDENTIALS: "Incorrect username or password",
  TOKEN_MISSING: "Not authenticated",
  TOKEN_INVALID: invalidToken,
  TOKEN_EXPIRED: invalidToken,
  SESSION_REVOKED: invalidToken,
  // 403, "inactive user or no roles", as its error table says.
  ACCOUNT_DISABLED: "Inactive user",
  NO_ROLES: "User has no roles assigned",
  TENANT_DISABLED: "Tenant is disabled",
  EMAIL_NOT_VERIFIED: "Email not verified",
  TENANT_MISMATCH: "The token belongs to another tenant",
  ADMIN_REQUIRED: "Not enough permissions",
  // 404, "not found".
  TENANT_NOT_FOUND: "Tenant not found",
  USER_NOT_FOUND: "User not found",
} as const;
const errors = fastApiErrors(messages);
/** A wrong current password is not a wrong sign-in. */
const changePasswordErrors = fastApiErrors({ ...messages, INVALID_CREDENTIALS: "Incorrect password" });

/** Vigia's `empleado_id` (the HR module's employee id): the user's attribute of that name when it is an integer. */
function empleadoId(user: User): number | null {
  const value = user.attributes.empleado_id;
  return Number.isSafeInteger(value) ? (value as number) : null;
}

/**
 * The role fields of every Vigia answer. The list puts `admin` first (its example's
 * `["admin", "qf"]`), so that `/whoami`'s primary role (the first in the list, as documented) and
 * `/me`'s and the login's (admin preferred, as documented) are the same role.
 */
function roleFields(user: User) {
  const roles = rolesAdminFirst(user.roles);
  return { primary: primaryRole(roles), first: roles[0] ?? "", roles };
}

/** `/me`: the primary role prefers admin; `id` is the user's integer number. */
function me(user: User) {
  const { primary, roles } = roleFields(user);
  return {
    id: user.number,
    email: user.email,
    username: user.username ?? "",
    full_name: user.fullName ?? "",
    role: primary,
    roles,
    permissions: user.permissions,
    is_active: user.isActive,
    empleado_id: empleadoId(user),
  };
}

/** `/whoami` calls the first role the primary one. */
function whoami(user: User) {
  const { first, roles } = roleFields(user);
  return {
    id: user.number,
    username: user.username ?? "",
    email: user.email,
    full_name: user.fullName ?? "",
    role: first,
    roles,
    empleado_id: empleadoId(user),
  };
}

const roles = schema.array(schema.string);
const empleadoIdSchema = schema.nullable(schema.integer);

/** How each route appears in the OpenAPI document (test/e2e/openapi.test.ts checks the answers against it). */
const docs = {
  login: {
    api: VIGIA_API,
    summary: "Sign in (OAuth2 password form; grant_type, if sent, must be password). Without X-Tenant, legacy mode: any tenant.",
    body: {
      form: schema.object({ username: schema.string, password: schema.string, grant_type: { const: "password" } }, ["grant_type"]),
    },
    tenantHeader: "optional",
    answer: schema.object({
      access_token: schema.string,
      token_type: { const: "bearer" },
      user: schema.object({ id: schema.integer, username: schema.string, email: schema.string, role: schema.string, roles }),
    }),
  },
  me: {
    api: VIGIA_API,
    summary: "The signed-in user, with the primary role (admin first) and the permissions.",
    bearer: true,
    answer: schema.object({
      id: schema.integer,
      email: schema.string,
      username: schema.string,
      full_name: schema.string,
      role: schema.string,
      roles,
      permissions: { type: "object", description: "The roles' permissions, merged." },
      is_active: schema.boolean,
      empleado_id: empleadoIdSchema,
    }),
  },
  whoami: {
    api: VIGIA_API,
    summary: "The signed-in user (the first role as the primary one).",
    bearer: true,
    answer: schema.object({
      id: schema.integer,
      username: schema.string,
      email: schema.string,
      full_name: schema.string,
      role: schema.string,
      roles,
      empleado_id: empleadoIdSchema,
    }),
  },
  changePassword: {
    api: VIGIA_API,
    summary: "Change the signed-in user's password (every other session ends).",
    bearer: true,
    body: { json: schema.object({ current_password: schema.string, new_password: schema.string }) },
    answer: schema.object({ success: { const: true } }),
  },
  resetPassword: {
    api: VIGIA_API,
    summary: "An admin of the tenant X-Tenant names sets a user's password (every session of that user ends).",
    bearer: true,
    tenantHeader: "required",
    body: { json: schema.object({ email: schema.string, new_password: schema.string }) },
    answer: schema.object({ email: schema.string, tenant: schema.string }),
  },
} as const satisfies Record<string, CompatDoc>;

const base = "/api/v1/auth";

export function vigiaRoutes(options: CompatOptions): HttpRoute[] {
  return [loginRoute(options), ...accountRoutes(options)];
}

/** `POST /login`: the OAuth2 password form, in the tenant X-Tenant names or in legacy mode. */
function loginRoute({ flows, maxRequestBytes }: CompatOptions): HttpRoute {
  return compatRoute(
    "vigia",
    "POST",
    `${base}/login`,
    "compat.vigia.login",
    async ({ req, res, ctx }) => {
      const form = await readForm(req, maxRequestBytes);
      const grant = form.get("grant_type");
      if (grant !== null && grant !== "" && grant !== "password") {
        throw new AuthError("INVALID_REQUEST", { message: "grant_type: must be password", metadata: { field: "grant_type" } });
      }
      // Without X-Tenant, legacy mode: the one account with this identifier in any tenant.
      const input = { identifier: text(form, "username"), password: text(form, "password"), anyTenant: true };
      const { accessToken, user } = await flows.login(ctx, input);
      const { primary, roles } = roleFields(user);
      sendJson(res, 200, {
        access_token: accessToken,
        token_type: "bearer",
        user: { id: user.number, username: user.username ?? "", email: user.email, role: primary, roles },
      });
    },
    errors,
    docs.login,
  );
}

/** The signed-in user's routes: `/me`, `/whoami`, `/change-password`, and the admin's `/reset-password`. */
function accountRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  return [
    compatRoute(
      "vigia",
      "GET",
      `${base}/me`,
      "compat.vigia.me",
      async ({ res, ctx }) => sendJson(res, 200, me(await flows.me(ctx))),
      errors,
      docs.me,
    ),
    compatRoute(
      "vigia",
      "GET",
      `${base}/whoami`,
      "compat.vigia.whoami",
      async ({ res, ctx }) => sendJson(res, 200, whoami(await flows.me(ctx))),
      errors,
      docs.whoami,
    ),
    compatRoute(
      "vigia",
      "POST",
      `${base}/change-password`,
      "compat.vigia.change_password",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        await flows.changePassword(ctx, { currentPassword: text(body, "current_password"), newPassword: text(body, "new_password") });
        sendJson(res, 200, { success: true });
      },
      changePasswordErrors,
      docs.changePassword,
    ),
    compatRoute(
      "vigia",
      "POST",
      `${base}/reset-password`,
      "compat.vigia.reset_password",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        if (ctx.tenantHeader === undefined) {
          throw new AuthError("INVALID_REQUEST", { message: "X-Tenant: required", metadata: { field: "X-Tenant" } });
        }
        // Admins only (the document: "in production, this should be restricted to admin users
        // only"): the flow wants the bearer token of an admin of the tenant, read fresh.
        const { user } = await flows.resetPassword(ctx, { token: "", email: text(body, "email"), newPassword: text(body, "new_password") });
        sendJson(res, 200, { email: user.email, tenant: user.tenant });
      },
      errors,
      docs.resetPassword,
    ),
  ];
}
