/**
 * The Vigia API (seed 001): `/api/v1/auth/login` (OAuth2 password form, `X-Tenant`), `/me`,
 * `/whoami`, `/change-password` and the admin `/reset-password`.
 */
import { AuthError } from "../../../domain/errors.js";
import { primaryRole, type User } from "../../../domain/model.js";
import { readForm, readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { type CompatOptions, compatRoute, fastApiErrors, text } from "./common.js";

const errors = fastApiErrors({ INVALID_CREDENTIALS: "Incorrect username or password", TOKEN_MISSING: "Not authenticated" });

/** Vigia's `empleado_id` (the HR module's employee id): the user's attribute of that name when it is an integer. */
function empleadoId(user: User): number | null {
  const value = user.attributes.empleado_id;
  return Number.isSafeInteger(value) ? (value as number) : null;
}

/** `/me`: the primary role prefers admin (as AuthService's User.role does); `id` is the user's integer number. */
const me = (user: User) => ({
  id: user.number,
  email: user.email,
  username: user.username ?? "",
  full_name: user.fullName ?? "",
  role: primaryRole(user.roles),
  roles: [...user.roles],
  permissions: user.permissions,
  is_active: user.isActive,
  empleado_id: empleadoId(user),
});

/** `/whoami` calls the first role the primary one. */
const whoami = (user: User) => ({
  id: user.number,
  username: user.username ?? "",
  email: user.email,
  full_name: user.fullName ?? "",
  role: user.roles[0] ?? "",
  roles: [...user.roles],
  empleado_id: empleadoId(user),
});

export function vigiaRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  const base = "/api/v1/auth";
  return [
    compatRoute(
      "POST",
      `${base}/login`,
      "compat.vigia.login",
      async ({ req, res, ctx }) => {
        const form = await readForm(req, maxRequestBytes);
        const grant = form.get("grant_type");
        if (grant !== null && grant !== "" && grant !== "password") {
          throw new AuthError("INVALID_REQUEST", { message: "grant_type: must be password", metadata: { field: "grant_type" } });
        }
        const { accessToken, user } = await flows.login(ctx, { identifier: text(form, "username"), password: text(form, "password") });
        sendJson(res, 200, {
          access_token: accessToken,
          token_type: "bearer",
          user: {
            id: user.number,
            username: user.username ?? "",
            email: user.email,
            role: primaryRole(user.roles),
            roles: [...user.roles],
          },
        });
      },
      errors,
    ),
    compatRoute("GET", `${base}/me`, "compat.vigia.me", async ({ res, ctx }) => sendJson(res, 200, me(await flows.me(ctx))), errors),
    compatRoute(
      "GET",
      `${base}/whoami`,
      "compat.vigia.whoami",
      async ({ res, ctx }) => sendJson(res, 200, whoami(await flows.me(ctx))),
      errors,
    ),
    compatRoute(
      "POST",
      `${base}/change-password`,
      "compat.vigia.change_password",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        await flows.changePassword(ctx, { currentPassword: text(body, "current_password"), newPassword: text(body, "new_password") });
        sendJson(res, 200, { success: true });
      },
      errors,
    ),
    compatRoute(
      "POST",
      `${base}/reset-password`,
      "compat.vigia.reset_password",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        if (ctx.tenantHeader === undefined) {
          throw new AuthError("INVALID_REQUEST", { message: "X-Tenant: required", metadata: { field: "X-Tenant" } });
        }
        const { user } = await flows.resetPassword(ctx, { token: "", email: text(body, "email"), newPassword: text(body, "new_password") });
        sendJson(res, 200, { email: user.email, tenant: user.tenant });
      },
      errors,
    ),
  ];
}
