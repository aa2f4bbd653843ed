/**
 * The Solicitud Transporte API (seed 002): `/auth/login` and `/auth/refresh` (JSON, camelCase) in
 * the envelope `{exito, mensaje, datos}`, errors as `{exito: false, mensaje, detalle}` with the
 * messages of its error table: 401 "Token no proporcionado", "Token inválido" and "Token
 * expirado", 403 "Permisos insuficientes", 422 "Credenciales inválidas", 429 "Demasiadas
 * solicitudes". Its documented client keeps its first refresh token, so `/auth/refresh` does not
 * rotate it (see domain/refresh.ts).
 *
 * Its documents announce TOTP MFA as "an additional step" of the login, without its shape; ours:
 * `/auth/login` of a user with MFA on answers 403 `{exito: false, mensaje, detalle, datos:
 * {mfaRequired: true, mfaTicket, expiresIn}}` (no tokens: its documented client, which reads
 * `datos.accessToken` when `exito` is true, reports a failed login instead of storing nothing),
 * and `POST /auth/mfa/verify` with `{mfaTicket, code}` (or `{mfaTicket, recoveryCode}`) answers
 * what `/auth/login` answers without MFA. A user whose tenant requires MFA and who has none gets
 * `datos.mfaEnrollmentRequired` and a ticket for the native enrolment RPCs. The second step's own
 * messages (not in its error table, which predates it) say what is asked.
 */

import { AuthError, type AuthErrorReason } from "../../../domain/errors.js";
import { type IssuedTokens, primaryRole, type User } from "../../../domain/model.js";
import type { ErrorFormat } from "../../http/errors.js";
import { readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { MfaChallengeError } from "../mfa-challenge.js";
import { type CompatDoc, type CompatOptions, compatRoute, fastApiStatus, schema, text } from "./common.js";

/** The OpenAPI document's tag of this API's routes. */
export const SOLICITUD_API = {
  name: "Solicitud Transporte (seed 002)",
  description:
    "Routes compatible with the Solicitud Transporte API: JSON in, the envelope {exito, mensaje, datos} out; its refresh keeps the refresh token.",
} as const;

/** The `mensaje` of its error table, by status; a status it does not list says what it is. */
const mensajeByStatus: Readonly<Record<number, string>> = {
  401: "Token inválido",
  403: "Permisos insuficientes",
  413: "Solicitud demasiado grande",
  422: "Credenciales inválidas",
  429: "Demasiadas solicitudes",
  503: "Servicio no disponible",
};

/** Where a reason has a more precise `mensaje` than its status's, and its `detalle`. */
const byReason: Partial<Record<AuthErrorReason, { readonly mensaje?: string; readonly detalle: string }>> = {
  TOKEN_MISSING: { mensaje: "Token no proporcionado", detalle: "Incluya el refresh token (refreshToken) en el cuerpo de la solicitud." },
  TOKEN_INVALID: { detalle: "El token no es válido." },
  TOKEN_EXPIRED: {
    mensaje: "Token expirado",
    detalle: "El token de acceso ha expirado. Use el refresh token para obtener uno nuevo.",
  },
  // A refresh token whose session is gone: in this API, whose refresh tokens were JWTs that could
  // only expire, that is an expired token (the session's idle lifetime or its cap ran out, or it
  // was ended). The reason says which of ours it is.
  SESSION_REVOKED: { mensaje: "Token expirado", detalle: "El refresh token expiró o su sesión terminó. Inicie sesión de nuevo." },
  TOKEN_REUSED: { detalle: "El refresh token ya fue usado; la sesión se cerró." },
  INVALID_CREDENTIALS: { detalle: "Usuario o contraseña incorrectos." },
  ACCOUNT_DISABLED: { detalle: "La cuenta está desactivada." },
  EMAIL_NOT_VERIFIED: { detalle: "El correo electrónico no está verificado." },
  NO_ROLES: { detalle: "El usuario no tiene roles asignados." },
  TENANT_DISABLED: { detalle: "La organización está desactivada." },
  TENANT_MISMATCH: { detalle: "El token pertenece a otra organización." },
  TENANT_NOT_FOUND: { mensaje: "Organización no encontrada", detalle: "La organización indicada en X-Tenant no existe." },
  RATE_LIMITED: { detalle: "Espere antes de reintentar." },
  ACCOUNT_LOCKED: { detalle: "Demasiados intentos fallidos desde su dirección; espere antes de reintentar." },
  MFA_REQUIRED: {
    mensaje: "Se requiere verificación en dos pasos",
    detalle: "Envíe el código de su aplicación de autenticación a /auth/mfa/verify junto con datos.mfaTicket.",
  },
  MFA_ENROLLMENT_REQUIRED: {
    mensaje: "Debe configurar la verificación en dos pasos",
    detalle:
      "Su organización exige un segundo factor: regístrelo con datos.mfaTicket en /v1/auth/mfa/totp/begin y /v1/auth/mfa/totp/confirm.",
  },
  MFA_CODE_INVALID: { mensaje: "Código inválido", detalle: "El código de verificación no es válido o ya fue usado." },
  MFA_TICKET_INVALID: { detalle: "El mfaTicket no es válido, ya fue usado o expiró; inicie sesión de nuevo." },
  UNAVAILABLE: { detalle: "Reintente más tarde." },
};

/**
 * `{exito: false, mensaje, detalle}`; bad credentials (a wrong code too) are 422 in this API, the
 * rest follows the usual statuses. A login that needs its second step adds `datos` with the ticket.
 */
export const solicitudErrors: ErrorFormat = {
  status: (error) => (error.reason === "INVALID_CREDENTIALS" || error.reason === "MFA_CODE_INVALID" ? 422 : fastApiStatus(error)),
  plainChallenge: true,
  body(error, status) {
    const known = byReason[error.reason];
    const mensaje = known?.mensaje ?? mensajeByStatus[status] ?? "Error";
    const body = { exito: false, mensaje, detalle: known?.detalle ?? error.message, reason: error.reason };
    if (!(error instanceof MfaChallengeError)) return body;
    const { kind, ticket, expiresIn } = error.challenge;
    const step = kind === "mfa_required" ? { mfaRequired: true } : { mfaEnrollmentRequired: true };
    return { ...body, datos: { ...step, mfaTicket: ticket, expiresIn } };
  },
  openApiSchema: schema.object(
    {
      exito: { const: false },
      mensaje: schema.string,
      detalle: schema.string,
      reason: schema.string,
      // The second step a sign-in with MFA asks for (MFA_REQUIRED or MFA_ENROLLMENT_REQUIRED).
      datos: schema.object(
        { mfaRequired: { const: true }, mfaEnrollmentRequired: { const: true }, mfaTicket: schema.string, expiresIn: schema.integer },
        ["mfaRequired", "mfaEnrollmentRequired"],
      ),
    },
    ["datos"],
  ),
};

/** `{exito: true, mensaje, datos}`, as `datos` below builds it. */
const signedIn = schema.object({
  exito: { const: true },
  mensaje: schema.string,
  datos: schema.object({
    accessToken: schema.string,
    refreshToken: schema.string,
    tokenType: { const: "Bearer" },
    expiresIn: schema.integer,
    user: schema.object({ id: schema.integer, username: schema.string, email: schema.string, rol: schema.string }),
  }),
});

/** How each route appears in the OpenAPI document (test/e2e/openapi.test.ts checks the answers against it). */
const docs = {
  login: {
    api: SOLICITUD_API,
    summary: "Sign in (username = email or username); bad credentials are 422 here.",
    description:
      "A user with MFA gets 403 with reason MFA_REQUIRED (or MFA_ENROLLMENT_REQUIRED) and datos.mfaTicket, for /auth/mfa/verify.",
    body: { json: schema.object({ username: schema.string, password: schema.string }) },
    answer: signedIn,
  },
  mfaVerify: {
    api: SOLICITUD_API,
    summary: "The second step of a sign-in with MFA: the ticket and a TOTP code, or a recovery code.",
    body: { json: schema.object({ mfaTicket: schema.string, code: schema.string, recoveryCode: schema.string }, ["code", "recoveryCode"]) },
    answer: signedIn,
  },
  refresh: {
    api: SOLICITUD_API,
    summary: "A new access token; the refresh token is kept (the API's documented client reuses it).",
    body: { json: schema.object({ refreshToken: schema.string }) },
    answer: signedIn,
  },
} as const satisfies Record<string, CompatDoc>;

/** `datos.user` as its document shows it: `id` (the user's integer number), `username`, `email`, `rol`. */
function user(user: User) {
  return { id: user.number, username: user.username ?? "", email: user.email, rol: primaryRole(user.roles) };
}

function datos(tokens: IssuedTokens) {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    tokenType: "Bearer",
    expiresIn: tokens.expiresIn,
    user: user(tokens.user),
  };
}

export function solicitudRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  return [
    compatRoute(
      "solicitud",
      "POST",
      "/auth/login",
      "compat.solicitud.login",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const outcome = await flows.signIn(ctx, { identifier: text(body, "username"), password: text(body, "password") });
        if (outcome.kind !== "signed_in") throw new MfaChallengeError(outcome);
        sendJson(res, 200, { exito: true, mensaje: "Autenticación exitosa", datos: datos(outcome.tokens) });
      },
      solicitudErrors,
      docs.login,
    ),
    compatRoute(
      "solicitud",
      "POST",
      "/auth/mfa/verify",
      "compat.solicitud.mfa_verify",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const input = { mfaTicket: text(body, "mfaTicket"), code: text(body, "code"), recoveryCode: text(body, "recoveryCode") };
        sendJson(res, 200, { exito: true, mensaje: "Autenticación exitosa", datos: datos(await flows.verifyMfa(ctx, input)) });
      },
      solicitudErrors,
      docs.mfaVerify,
    ),
    compatRoute(
      "solicitud",
      "POST",
      "/auth/refresh",
      "compat.solicitud.refresh",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const refreshToken = text(body, "refreshToken");
        if (refreshToken.trim() === "") throw new AuthError("TOKEN_MISSING");
        const tokens = await flows.refresh(ctx, { refreshToken }, "keep");
        sendJson(res, 200, { exito: true, mensaje: "Token renovado", datos: datos(tokens) });
      },
      solicitudErrors,
      docs.refresh,
    ),
  ];
}
