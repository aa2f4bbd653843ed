/**
 * The UContact API (seed 003): `/api/auth/register` (JSON), `/api/auth/login` (form, username),
 * `/api/auth/refresh-token` (JSON; answers the same refresh token, as UContact's update_jwt did),
 * and `/api/auth/confirmed_email/{token}`, the link of its verification mail.
 */
import { refresh } from "../../../domain/refresh.js";
import { tokensToProto } from "../../convert.js";
import { invoke } from "../../handlers.js";
import { readForm, readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { parsePathTemplate } from "../path-template.js";
import { type CompatOptions, compatRoute, sendFastApiError, text } from "./common.js";

const messages = {
  EMAIL_TAKEN: "Account already exists",
  USERNAME_TAKEN: "Account already exists",
  INVALID_CREDENTIALS: "Incorrect username or password",
  TOKEN_INVALID: "Verification error",
  TOKEN_EXPIRED: "Verification error",
} as const;
const onError = (res: Parameters<typeof sendFastApiError>[0], error: Parameters<typeof sendFastApiError>[1]) =>
  sendFastApiError(res, error, messages);

export function ucontactRoutes({ handlers, deps, maxRequestBytes }: CompatOptions): HttpRoute[] {
  const confirmed = parsePathTemplate("/api/auth/confirmed_email/{token}");
  return [
    compatRoute(
      "POST",
      "/api/auth/register",
      "compat.ucontact.register",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const { user } = await invoke(
          handlers,
          "register",
          { email: text(body, "email"), password: text(body, "password"), username: text(body, "username") },
          ctx,
        );
        sendJson(res, 201, {
          id: user?.id,
          username: user?.username,
          email: user?.email,
          created_at: user?.createdAt ? new Date(Number(user.createdAt.seconds) * 1000).toISOString() : null,
          avatar: null,
          is_verified: user?.emailVerified ?? false,
        });
      },
      onError,
    ),
    compatRoute(
      "POST",
      "/api/auth/login",
      "compat.ucontact.login",
      async ({ req, res, ctx }) => {
        const form = await readForm(req, maxRequestBytes);
        const login = await invoke(handlers, "login", { identifier: text(form, "username"), password: text(form, "password") }, ctx);
        sendJson(res, 200, { access_token: login.accessToken, refresh_token: login.refreshToken, token_type: "bearer" });
      },
      onError,
    ),
    compatRoute(
      "POST",
      "/api/auth/refresh-token",
      "compat.ucontact.refresh_token",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const tokens = tokensToProto(await refresh(deps, ctx, { refreshToken: text(body, "refresh_token") }, "keep"));
        sendJson(res, 200, { access_token: tokens.accessToken, refresh_token: tokens.refreshToken, token_type: "bearer" });
      },
      onError,
    ),
    compatRoute(
      "GET",
      (path) => confirmed.match(path),
      "compat.ucontact.confirmed_email",
      async ({ res, ctx, params }) => {
        try {
          await invoke(handlers, "verifyEmail", { token: params.token ?? "" }, ctx);
        } catch (error) {
          // A used verification link means the address was verified already: say so, as UContact did.
          if ((error as { reason?: string }).reason === "TOKEN_USED") {
            sendJson(res, 200, { message: "Your email is already confirmed" });
            return;
          }
          throw error;
        }
        sendJson(res, 200, { message: "Email verified successfully" });
      },
      onError,
    ),
  ];
}
