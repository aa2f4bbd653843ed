/**
 * The Vigia API (seed 001): `/api/v1/auth/login` (OAuth2 password form, `X-Tenant`), `/me`,
 * `/whoami`, `/change-password` and the admin `/reset-password`.
 */
import { AuthError } from "../../../domain/errors.js";
import type { User } from "../../../gen/auth/v1/auth_pb.js";
import { invoke } from "../../handlers.js";
import { readForm, readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { type CompatOptions, compatRoute, sendFastApiError, text } from "./common.js";

const messages = { INVALID_CREDENTIALS: "Incorrect username or password", TOKEN_MISSING: "Not authenticated" } as const;
const onError = (res: Parameters<typeof sendFastApiError>[0], error: AuthError) => sendFastApiError(res, error, messages);

/** `/whoami` calls the first role the primary one; `/me` prefers admin (our User.role). */
const whoami = (user: User) => ({
  id: user.id,
  username: user.username,
  email: user.email,
  full_name: user.fullName,
  role: user.roles[0] ?? "",
  roles: user.roles,
  empleado_id: null,
});

export function vigiaRoutes({ handlers, maxRequestBytes }: CompatOptions): HttpRoute[] {
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
        const login = await invoke(handlers, "login", { identifier: text(form, "username"), password: text(form, "password") }, ctx);
        const user = login.user;
        sendJson(res, 200, {
          access_token: login.accessToken,
          token_type: "bearer",
          user: { id: user?.id, username: user?.username, email: user?.email, role: user?.role, roles: user?.roles },
        });
      },
      onError,
    ),
    compatRoute(
      "GET",
      `${base}/me`,
      "compat.vigia.me",
      async ({ res, ctx }) => {
        const { user } = await invoke(handlers, "me", {}, ctx);
        if (user === undefined) throw new AuthError("INTERNAL");
        sendJson(res, 200, {
          id: user.id,
          email: user.email,
          username: user.username,
          full_name: user.fullName,
          role: user.role,
          roles: user.roles,
          permissions: user.permissions ?? {},
          is_active: user.isActive,
          empleado_id: null,
        });
      },
      onError,
    ),
    compatRoute(
      "GET",
      `${base}/whoami`,
      "compat.vigia.whoami",
      async ({ res, ctx }) => {
        const { user } = await invoke(handlers, "me", {}, ctx);
        if (user === undefined) throw new AuthError("INTERNAL");
        sendJson(res, 200, whoami(user));
      },
      onError,
    ),
    compatRoute(
      "POST",
      `${base}/change-password`,
      "compat.vigia.change_password",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        await invoke(
          handlers,
          "changePassword",
          { currentPassword: text(body, "current_password"), newPassword: text(body, "new_password") },
          ctx,
        );
        sendJson(res, 200, { success: true });
      },
      onError,
    ),
    compatRoute(
      "POST",
      `${base}/reset-password`,
      "compat.vigia.reset_password",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        if (ctx.tenantHeader === undefined || ctx.tenantHeader.trim() === "") {
          throw new AuthError("INVALID_REQUEST", { message: "X-Tenant: required", metadata: { field: "X-Tenant" } });
        }
        const reset = await invoke(handlers, "resetPassword", { email: text(body, "email"), newPassword: text(body, "new_password") }, ctx);
        sendJson(res, 200, { email: reset.email, tenant: reset.tenant });
      },
      onError,
    ),
  ];
}
