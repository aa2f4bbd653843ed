/**
 * The VidaPlus API (seed 000): an OAuth2 password form at `/auth/token` (username = the email), and
 * `/auth/refresh_token`, which trades a still-valid access token for a new one of the same session.
 */
import { readForm, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { type CompatOptions, compatRoute, fastApiErrors, text } from "./common.js";

export function vidaPlusRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  return [
    compatRoute(
      "POST",
      "/auth/token",
      "compat.vidaplus.token",
      async ({ req, res, ctx }) => {
        const form = await readForm(req, maxRequestBytes);
        const login = await flows.login(ctx, { identifier: text(form, "username"), password: text(form, "password") });
        sendJson(res, 200, { access_token: login.accessToken, token_type: "bearer" });
      },
      fastApiErrors({ INVALID_CREDENTIALS: "Incorrect email or password" }),
    ),
    compatRoute(
      "POST",
      "/auth/refresh_token",
      "compat.vidaplus.refresh_token",
      async ({ res, ctx }) => {
        const { accessToken } = await flows.reissueAccessToken(ctx);
        sendJson(res, 200, { access_token: accessToken, token_type: "bearer" });
      },
      fastApiErrors({
        TOKEN_MISSING: "Not authenticated",
        TOKEN_INVALID: "Could not validate credentials",
        TOKEN_EXPIRED: "Could not validate credentials",
        SESSION_REVOKED: "Could not validate credentials",
      }),
    ),
  ];
}
