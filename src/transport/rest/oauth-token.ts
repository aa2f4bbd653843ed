/**
 * The OAuth 2.0 token endpoint for first-party clients (RFC 6749 §4.3 and §6):
 * `POST /v1/auth/token`, form-encoded, `grant_type=password` (username = email or username) or
 * `grant_type=refresh_token`. It calls the Login and Refresh flows; answers and errors are
 * RFC 6749's (§5.1, §5.2), and its part of the OpenAPI document is below. RFC 9700 §2.4 allows the
 * password grant only for clients the service's owner trusts with passwords (its own apps), never
 * for third parties.
 *
 * A user with MFA on: the password grant answers 403 `{"error": "mfa_required", "mfa_token": …}`,
 * and a second request completes the sign-in with that token and a code, in the grant types
 * Auth0 defined for it (its clients and SDKs already speak them, and OAuth registers none):
 * `http://auth0.com/oauth/grant-type/mfa-otp` with `mfa_token` and `otp`, or
 * `http://auth0.com/oauth/grant-type/mfa-recovery-code` with `mfa_token` and `recovery_code`. A
 * user whose tenant requires MFA and who has none gets `mfa_enrollment_required` and an
 * `mfa_token` for BeginMfaEnrollment and ConfirmMfaEnrollment (`mfa_ticket`).
 */
import { AuthError, type AuthErrorReason } from "../../domain/errors.js";
import type { Flows } from "../../domain/flows.js";
import type { IssuedTokens } from "../../domain/model.js";
import type { ErrorFormat } from "../http/errors.js";
import { readForm, sendJson } from "../http/io.js";
import { exactPath, type HttpRoute } from "../http/router.js";
import { MfaChallengeError } from "./mfa-challenge.js";

export const TOKEN_ENDPOINT_PATH = "/v1/auth/token";
const PATH = TOKEN_ENDPOINT_PATH;
/** The second step of a sign-in with MFA, as Auth0 named it: `mfa_token` and `otp`, or `recovery_code`. */
export const MFA_OTP_GRANT = "http://auth0.com/oauth/grant-type/mfa-otp";
export const MFA_RECOVERY_CODE_GRANT = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

/** The grant types `handle` below serves; the discovery documents and the OpenAPI document list these. */
export const TOKEN_GRANT_TYPES = ["password", "refresh_token", MFA_OTP_GRANT, MFA_RECOVERY_CODE_GRANT] as const;
const noStore = { "cache-control": "no-store", pragma: "no-cache" };

/**
 * Reasons that are a bad grant whatever their category (MFA_UNAVAILABLE among them); every other
 * refusal of the `unauthenticated` or `forbidden` category is one too (oauthError).
 */
const invalidGrant: ReadonlySet<AuthErrorReason> = new Set([
  "INVALID_CREDENTIALS",
  "TOKEN_INVALID",
  "TOKEN_EXPIRED",
  "TOKEN_REUSED",
  "SESSION_REVOKED",
  "ACCOUNT_DISABLED",
  "EMAIL_NOT_VERIFIED",
  "TENANT_MISMATCH",
  "MFA_TICKET_INVALID",
  "MFA_CODE_INVALID",
  "MFA_UNAVAILABLE",
]);

/** The errors this route raised for a grant type it does not serve (RFC 6749's `unsupported_grant_type`). */
const unsupportedGrants = new WeakSet<AuthError>();

/**
 * RFC 6749 §5.2: the status and the `error` code of each failure. Whatever refuses the grant
 * itself, the credentials or refresh token (wrong, expired, reused, revoked) or the account's
 * state (disabled, unverified, without the roles its tenant requires, in a disabled tenant), is
 * `invalid_grant`, by category, so that a refusal added later is never a 500 `server_error`.
 */
function oauthError(error: AuthError): { status: number; code: string } {
  if (invalidGrant.has(error.reason)) return { status: 400, code: "invalid_grant" };
  // Auth0's answer: 403 with the token for the second request.
  if (error.reason === "MFA_REQUIRED") return { status: 403, code: "mfa_required" };
  if (error.reason === "MFA_ENROLLMENT_REQUIRED") return { status: 403, code: "mfa_enrollment_required" };
  if (unsupportedGrants.has(error)) return { status: 400, code: "unsupported_grant_type" };
  switch (error.category) {
    case "unauthenticated":
    case "forbidden":
      return { status: 400, code: "invalid_grant" };
    case "invalid_input":
      return { status: error.reason === "REQUEST_TOO_LARGE" ? 413 : 400, code: "invalid_request" };
    case "rate_limited":
      return { status: 429, code: "temporarily_unavailable" };
    case "unavailable":
      return { status: 503, code: "temporarily_unavailable" };
    case "internal":
    case "unimplemented":
      return { status: 500, code: "server_error" };
    default:
      return { status: 400, code: "invalid_request" };
  }
}

/** `{error, error_description, reason}`: RFC 6749's fields, and `reason` from the same catalog as every other transport. */
const oauthErrors: ErrorFormat = {
  status: (error) => oauthError(error).status,
  body: (error) => ({
    error: oauthError(error).code,
    error_description: error.message,
    reason: error.reason,
    ...(error instanceof MfaChallengeError ? { mfa_token: error.challenge.ticket, mfa_token_expires_in: error.challenge.expiresIn } : {}),
  }),
  headers: noStore,
};

function param(form: URLSearchParams, name: string): string {
  const value = form.get(name);
  if (value === null || value === "") throw new AuthError("INVALID_REQUEST", { message: `${name}: required`, metadata: { field: name } });
  return value;
}

export function oauthTokenRoute(flows: Flows, maxRequestBytes: number): HttpRoute {
  return {
    method: "POST",
    name: "oauth.token",
    path: PATH,
    errors: oauthErrors,
    match: exactPath(PATH),
    async handle({ req, res, ctx }) {
      const form = await readForm(req, maxRequestBytes);
      const grant = param(form, "grant_type");
      let tokens: IssuedTokens;
      if (grant === "password") {
        const outcome = await flows.signIn(ctx, { identifier: param(form, "username"), password: param(form, "password") });
        if (outcome.kind !== "signed_in") throw new MfaChallengeError(outcome);
        tokens = outcome.tokens;
      } else if (grant === MFA_OTP_GRANT || grant === MFA_RECOVERY_CODE_GRANT) {
        const mfaTicket = param(form, "mfa_token");
        tokens =
          grant === MFA_OTP_GRANT
            ? await flows.verifyMfa(ctx, { mfaTicket, code: param(form, "otp"), recoveryCode: "" })
            : await flows.verifyMfa(ctx, { mfaTicket, code: "", recoveryCode: param(form, "recovery_code") });
      } else if (grant === "refresh_token") {
        tokens = await flows.refresh(ctx, { refreshToken: param(form, "refresh_token") });
      } else {
        const unsupported = new AuthError("INVALID_REQUEST", {
          message: `grant_type ${grant} is not supported here`,
          metadata: { field: "grant_type" },
        });
        unsupportedGrants.add(unsupported);
        throw unsupported;
      }
      const answer = {
        access_token: tokens.accessToken,
        token_type: "bearer",
        expires_in: tokens.expiresIn,
        refresh_token: tokens.refreshToken,
        refresh_expires_in: tokens.refreshExpiresIn,
      };
      sendJson(res, 200, answer, noStore);
    },
  };
}

/** The endpoint's entry in the OpenAPI document's `paths`. */
export function oauthTokenOpenApi(): Record<string, object> {
  const errorBody = {
    type: "object",
    properties: {
      error: { type: "string" },
      error_description: { type: "string" },
      reason: { type: "string" },
      mfa_token: { type: "string", description: "With mfa_required or mfa_enrollment_required: the ticket of the second step." },
      mfa_token_expires_in: { type: "integer" },
    },
  };
  return {
    [PATH]: {
      post: {
        operationId: "OAuthToken",
        tags: ["OAuth 2.0"],
        summary: "OAuth 2.0 token endpoint for first-party clients (RFC 6749 §4.3 and §6).",
        description:
          "grant_type=password (username = email or username) or grant_type=refresh_token. The password grant is for the service owner's own apps only (RFC 9700 §2.4). " +
          `A user with MFA on gets 403 {"error": "mfa_required", "mfa_token": …}; then grant_type=${MFA_OTP_GRANT} with mfa_token and otp (the 6 digits), ` +
          `or grant_type=${MFA_RECOVERY_CODE_GRANT} with mfa_token and recovery_code, answers the tokens.`,
        requestBody: {
          required: true,
          content: {
            "application/x-www-form-urlencoded": {
              schema: {
                type: "object",
                required: ["grant_type"],
                properties: {
                  grant_type: { type: "string", enum: [...TOKEN_GRANT_TYPES] },
                  username: { type: "string" },
                  password: { type: "string", format: "password" },
                  refresh_token: { type: "string" },
                  mfa_token: { type: "string", description: "The mfa_token of an mfa_required answer." },
                  otp: { type: "string", description: "The 6 digits the authenticator app shows." },
                  recovery_code: { type: "string", description: "One of the user's recovery codes." },
                },
              },
            },
          },
        },
        responses: {
          "200": {
            description: "Tokens (RFC 6749 §5.1).",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    access_token: { type: "string" },
                    token_type: { type: "string", const: "bearer" },
                    expires_in: { type: "integer" },
                    refresh_token: { type: "string" },
                    refresh_expires_in: { type: "integer" },
                  },
                },
              },
            },
          },
          "400": { description: "An error (RFC 6749 §5.2).", content: { "application/json": { schema: errorBody } } },
          "403": {
            description: "A second factor is needed: mfa_required (or mfa_enrollment_required) with an mfa_token.",
            content: { "application/json": { schema: errorBody } },
          },
        },
      },
    },
  };
}
