/**
 * The Solicitud Transporte API (seed 002): `/auth/login` and `/auth/refresh` (JSON, camelCase) in
 * the envelope `{exito, mensaje, datos}`, errors as `{exito: false, mensaje, detalle}` (401 for a
 * missing, invalid or expired token, 422 for bad credentials, 429 when limited). Its documented
 * client keeps its first refresh token, so `/auth/refresh` does not rotate it (see domain/refresh.ts).
 *
 * Its documents announce TOTP MFA as "an additional step" of the login, without its shape; ours:
 * `/auth/login` of a user with MFA on answers 403 `{exito: false, mensaje, detalle, datos:
 * {mfaRequired: true, mfaTicket, expiresIn}}` (no tokens: its documented client, which reads
 * `datos.accessToken` when `exito` is true, reports a failed login instead of storing nothing),
 * and `POST /auth/mfa/verify` with `{mfaTicket, code}` (or `{mfaTicket, recoveryCode}`) answers
 * what `/auth/login` answers without MFA. A user whose tenant requires MFA and who has none gets
 * `datos.mfaEnrollmentRequired` and a ticket for the native enrolment RPCs.
 */

import type { AuthErrorReason } from "../../../domain/errors.js";
import type { IssuedTokens } from "../../../domain/model.js";
import type { ErrorFormat } from "../../http/errors.js";
import { readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { MfaChallengeError } from "../mfa-challenge.js";
import { type CompatOptions, compatRoute, fastApiStatus, text, userSummary } from "./common.js";

/** Their documented messages (mensaje) and explanations (detalle). */
const spanish: Partial<Record<AuthErrorReason, [string, string]>> = {
  TOKEN_MISSING: ["Token no proporcionado", "Incluya el encabezado Authorization con un token Bearer."],
  TOKEN_INVALID: ["Token inválido", "El token no es válido."],
  TOKEN_EXPIRED: ["Token expirado", "El token de acceso ha expirado. Use el refresh token para obtener uno nuevo."],
  TOKEN_REUSED: ["Token inválido", "El refresh token ya fue usado; la sesión se cerró."],
  SESSION_REVOKED: ["Token inválido", "La sesión terminó; inicie sesión de nuevo."],
  INVALID_CREDENTIALS: ["Credenciales inválidas", "Usuario o contraseña incorrectos."],
  ACCOUNT_DISABLED: ["Permisos insuficientes", "La cuenta está desactivada."],
  EMAIL_NOT_VERIFIED: ["Permisos insuficientes", "El correo electrónico no está verificado."],
  TENANT_MISMATCH: ["Permisos insuficientes", "El token pertenece a otro inquilino."],
  RATE_LIMITED: ["Demasiadas solicitudes", "Espere antes de reintentar."],
  MFA_REQUIRED: [
    "Se requiere verificación en dos pasos",
    "Envíe el código de su aplicación de autenticación a /auth/mfa/verify junto con datos.mfaTicket.",
  ],
  MFA_ENROLLMENT_REQUIRED: [
    "Debe configurar la verificación en dos pasos",
    "Su organización exige un segundo factor: regístrelo con datos.mfaTicket en /v1/auth/mfa/totp/begin y /v1/auth/mfa/totp/confirm.",
  ],
  MFA_CODE_INVALID: ["Código inválido", "El código de verificación no es válido o ya fue usado."],
  MFA_TICKET_INVALID: ["Token inválido", "El mfaTicket no es válido, ya fue usado o expiró; inicie sesión de nuevo."],
  UNAVAILABLE: ["Servicio no disponible", "Reintente más tarde."],
};

/**
 * `{exito: false, mensaje, detalle}`; bad credentials (a wrong code too) are 422 in this API, the
 * rest follows the usual statuses. A login that needs its second step adds `datos` with the ticket.
 */
const envelopeErrors: ErrorFormat = {
  status: (error) => (error.reason === "INVALID_CREDENTIALS" || error.reason === "MFA_CODE_INVALID" ? 422 : fastApiStatus(error)),
  plainChallenge: true,
  body(error, status) {
    const [mensaje, detalle] = spanish[error.reason] ?? (status === 422 ? ["Datos inválidos", error.message] : ["Error", error.message]);
    if (error instanceof MfaChallengeError) {
      const { kind, ticket, expiresIn } = error.challenge;
      const step = kind === "mfa_required" ? { mfaRequired: true } : { mfaEnrollmentRequired: true };
      return { exito: false, mensaje, detalle, reason: error.reason, datos: { ...step, mfaTicket: ticket, expiresIn } };
    }
    return { exito: false, mensaje, detalle, reason: error.reason };
  },
};

function datos(tokens: IssuedTokens) {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    tokenType: "bearer",
    expiresIn: tokens.expiresIn,
    user: userSummary(tokens.user),
  };
}

export function solicitudRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  return [
    compatRoute(
      "POST",
      "/auth/login",
      "compat.solicitud.login",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const outcome = await flows.signIn(ctx, { identifier: text(body, "username"), password: text(body, "password") });
        if (outcome.kind !== "signed_in") throw new MfaChallengeError(outcome);
        sendJson(res, 200, { exito: true, mensaje: "Inicio de sesión exitoso", datos: datos(outcome.tokens) });
      },
      envelopeErrors,
    ),
    compatRoute(
      "POST",
      "/auth/mfa/verify",
      "compat.solicitud.mfa_verify",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const tokens = await flows.verifyMfa(ctx, {
          mfaTicket: text(body, "mfaTicket"),
          code: text(body, "code"),
          recoveryCode: text(body, "recoveryCode"),
        });
        sendJson(res, 200, { exito: true, mensaje: "Inicio de sesión exitoso", datos: datos(tokens) });
      },
      envelopeErrors,
    ),
    compatRoute(
      "POST",
      "/auth/refresh",
      "compat.solicitud.refresh",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const tokens = await flows.refresh(ctx, { refreshToken: text(body, "refreshToken") }, "keep");
        sendJson(res, 200, { exito: true, mensaje: "Token renovado", datos: datos(tokens) });
      },
      envelopeErrors,
    ),
  ];
}
