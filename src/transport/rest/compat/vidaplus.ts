/**
 * The VidaPlus API (seed 000): an OAuth2 password form at `/auth/token` (username = the email), and
 * `/auth/refresh_token`, which trades a still-valid access token for a new one of the same session.
 * With LEGACY_TOKEN_VIDAPLUS_SECRET set, both issue VidaPlus's own tokens (HS256, `sub` = email;
 * see infra/crypto/legacy-tokens.ts), and `/auth/refresh_token` accepts them.
 */
import { readForm, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { type CompatDoc, type CompatOptions, compatRoute, fastApiErrors, schema, text } from "./common.js";

/** The OpenAPI document's tag of this API's routes. */
export const VIDAPLUS_API = {
  name: "VidaPlus (seed 000)",
  description: "Routes compatible with the VidaPlus API: an OAuth2 password form at /auth/token (username = the email).",
} as const;

const accessToken = schema.object({ access_token: schema.string, token_type: { const: "bearer" } });

/** How each route appears in the OpenAPI document (test/e2e/openapi.test.ts checks the answers against it). */
const docs = {
  token: {
    api: VIDAPLUS_API,
    summary: "Sign in (OAuth2 password form; username = the email).",
    body: { form: schema.object({ username: schema.string, password: schema.string }) },
    answer: accessToken,
  },
  refreshToken: {
    api: VIDAPLUS_API,
    summary: "A new access token of the same session, for a still-valid one.",
    bearer: true,
    answer: accessToken,
  },
} as const satisfies Record<string, CompatDoc>;

/** FastAPI's answers, as VidaPlus's `get_current_user` and OAuth2 form gave them. */
const invalidToken = "Could not validate credentials";

export function vidaPlusRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  return [
    compatRoute(
      "vidaplus",
      "POST",
      "/auth/token",
      "compat.vidaplus.token",
      async ({ req, res, ctx }) => {
        const form = await readForm(req, maxRequestBytes);
        const login = await flows.login(ctx, { identifier: text(form, "username"), password: text(form, "password") });
        sendJson(res, 200, { access_token: login.accessToken, token_type: "bearer" });
      },
      fastApiErrors({
        INVALID_CREDENTIALS: "Incorrect email or password",
        ACCOUNT_DISABLED: "Inactive user",
        EMAIL_NOT_VERIFIED: "Email not verified",
        NO_ROLES: "Not enough permissions",
        TENANT_DISABLED: "Not enough permissions",
      }),
      docs.token,
    ),
    compatRoute(
      "vidaplus",
      "POST",
      "/auth/refresh_token",
      "compat.vidaplus.refresh_token",
      async ({ res, ctx }) => {
        const { accessToken } = await flows.reissueAccessToken(ctx);
        sendJson(res, 200, { access_token: accessToken, token_type: "bearer" });
      },
      fastApiErrors({
        TOKEN_MISSING: "Not authenticated",
        TOKEN_INVALID: invalidToken,
        TOKEN_EXPIRED: invalidToken,
        SESSION_REVOKED: invalidToken,
        ACCOUNT_DISABLED: "Inactive user",
      }),
      docs.refreshToken,
    ),
  ];
}
