/**
 * The OAuth 2.0 token endpoint for first-party clients (RFC 6749 §4.3 and §6):
 * `POST /v1/auth/token`, form-encoded, `grant_type=password` (username = email or username) or
 * `grant_type=refresh_token`. It calls the Login and Refresh handlers; answers and errors are
 * RFC 6749's (§5.1, §5.2). RFC 9700 §2.4 allows the password grant only for clients the service's
 * owner trusts with passwords (its own apps), never for third parties.
 */
import type { ServerResponse } from "node:http";
import { AuthError, type AuthErrorReason } from "../../domain/errors.js";
import { toAuthError } from "../errors.js";
import { type AuthHandlers, invoke } from "../handlers.js";
import { readForm, sendJson } from "../http/io.js";
import { exactPath, type HttpRoute } from "../http/router.js";

const noStore = { "cache-control": "no-store", pragma: "no-cache" };

/** RFC 6749 §5.2 error codes, from our reasons. */
function oauthError(error: AuthError): { status: number; error: string } {
  const byReason: Partial<Record<AuthErrorReason, string>> = {
    INVALID_CREDENTIALS: "invalid_grant",
    TOKEN_INVALID: "invalid_grant",
    TOKEN_EXPIRED: "invalid_grant",
    TOKEN_REUSED: "invalid_grant",
    SESSION_REVOKED: "invalid_grant",
    ACCOUNT_DISABLED: "invalid_grant",
    EMAIL_NOT_VERIFIED: "invalid_grant",
    TENANT_MISMATCH: "invalid_grant",
  };
  const code = byReason[error.reason];
  if (code !== undefined) return { status: 400, error: code };
  switch (error.category) {
    case "invalid_input":
      return { status: error.reason === "REQUEST_TOO_LARGE" ? 413 : 400, error: "invalid_request" };
    case "rate_limited":
      return { status: 429, error: "temporarily_unavailable" };
    case "unavailable":
      return { status: 503, error: "temporarily_unavailable" };
    default:
      return { status: 500, error: "server_error" };
  }
}

function sendOAuthError(res: ServerResponse, error: AuthError): void {
  const { status, error: code } = oauthError(error);
  // `reason` is ours, beside RFC 6749's fields: the same catalog as every other transport.
  sendJson(res, status, { error: code, error_description: error.message, reason: error.reason }, noStore);
}

function param(form: URLSearchParams, name: string): string {
  const value = form.get(name);
  if (value === null || value === "") throw new AuthError("INVALID_REQUEST", { message: `${name}: required`, metadata: { field: name } });
  return value;
}

export function oauthTokenRoute(handlers: AuthHandlers, maxRequestBytes: number): HttpRoute {
  return {
    method: "POST",
    name: "oauth.token",
    match: exactPath("/v1/auth/token"),
    async handle({ req, res, ctx }) {
      try {
        const form = await readForm(req, maxRequestBytes);
        const grant = param(form, "grant_type");
        let tokens: { accessToken: string; refreshToken: string; expiresIn: number; refreshExpiresIn: number };
        if (grant === "password") {
          tokens = await invoke(handlers, "login", { identifier: param(form, "username"), password: param(form, "password") }, ctx);
        } else if (grant === "refresh_token") {
          tokens = await invoke(handlers, "refresh", { refreshToken: param(form, "refresh_token") }, ctx);
        } else {
          sendJson(res, 400, { error: "unsupported_grant_type", error_description: `grant_type ${grant} is not supported here` }, noStore);
          return new AuthError("INVALID_REQUEST", { message: "unsupported grant_type" });
        }
        sendJson(
          res,
          200,
          {
            access_token: tokens.accessToken,
            token_type: "bearer",
            expires_in: tokens.expiresIn,
            refresh_token: tokens.refreshToken,
            refresh_expires_in: tokens.refreshExpiresIn,
          },
          noStore,
        );
        return undefined;
      } catch (error) {
        const authError = toAuthError(error);
        sendOAuthError(res, authError);
        return authError;
      }
    },
  };
}
