/**
 * The UContact API (seed 003): `/api/auth/register` (JSON), `/api/auth/login` (form, username),
 * `/api/auth/refresh-token` (JSON; answers the same refresh token, as UContact's update_jwt did),
 * and `/api/auth/confirmed_email/{token}`, the link of its verification mail.
 */
import { AuthError } from "../../../domain/errors.js";
import { readForm, readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { parsePathTemplate } from "../path-template.js";
import { type CompatOptions, compatRoute, fastApiErrors, text } from "./common.js";

const errors = fastApiErrors({
  EMAIL_TAKEN: "Account already exists",
  USERNAME_TAKEN: "Account already exists",
  INVALID_CREDENTIALS: "Incorrect username or password",
  TOKEN_INVALID: "Verification error",
  TOKEN_EXPIRED: "Verification error",
});

/** A time to the whole second, as UContact's API wrote it. */
const isoSeconds = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();

export function ucontactRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  const confirmed = parsePathTemplate("/api/auth/confirmed_email/{token}");
  return [
    compatRoute(
      "POST",
      "/api/auth/register",
      "compat.ucontact.register",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const input = {
          email: text(body, "email"),
          password: text(body, "password"),
          username: text(body, "username"),
          fullName: undefined,
        };
        const user = await flows.register(ctx, input);
        sendJson(res, 201, {
          id: user.number,
          username: user.username ?? "",
          email: user.email,
          created_at: isoSeconds(user.createdAt),
          avatar: null,
          is_verified: user.emailVerifiedAt !== null,
        });
      },
      errors,
    ),
    compatRoute(
      "POST",
      "/api/auth/login",
      "compat.ucontact.login",
      async ({ req, res, ctx }) => {
        const form = await readForm(req, maxRequestBytes);
        const login = await flows.login(ctx, { identifier: text(form, "username"), password: text(form, "password") });
        sendJson(res, 200, { access_token: login.accessToken, refresh_token: login.refreshToken, token_type: "bearer" });
      },
      errors,
    ),
    compatRoute(
      "POST",
      "/api/auth/refresh-token",
      "compat.ucontact.refresh_token",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const tokens = await flows.refresh(ctx, { refreshToken: text(body, "refresh_token") }, "keep");
        sendJson(res, 200, { access_token: tokens.accessToken, refresh_token: tokens.refreshToken, token_type: "bearer" });
      },
      errors,
    ),
    compatRoute(
      "GET",
      (path) => confirmed.match(path),
      "compat.ucontact.confirmed_email",
      async ({ res, ctx, params }) => {
        try {
          await flows.verifyEmail(ctx, { token: params.token ?? "" });
        } catch (error) {
          // A used verification link means the address was verified already: say so, as UContact did.
          if (error instanceof AuthError && error.reason === "TOKEN_USED") {
            sendJson(res, 200, { message: "Your email is already confirmed" });
            return;
          }
          throw error;
        }
        sendJson(res, 200, { message: "Email verified successfully" });
      },
      errors,
    ),
  ];
}
