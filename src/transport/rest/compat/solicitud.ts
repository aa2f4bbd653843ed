/**
 * The Solicitud Transporte API (seed 002): `/auth/login` and `/auth/refresh` (JSON, camelCase) in
 * the envelope `{exito, mensaje, datos}`, errors as `{exito: false, mensaje, detalle}` (401 for a
 * missing, invalid or expired token, 422 for bad credentials, 429 when limited). Its documented
 * client keeps its first refresh token, so `/auth/refresh` does not rotate it (see domain/refresh.ts).
 */

import type { AuthErrorReason } from "../../../domain/errors.js";
import type { IssuedTokens } from "../../../domain/model.js";
import type { ErrorFormat } from "../../http/errors.js";
import { readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
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
  UNAVAILABLE: ["Servicio no disponible", "Reintente más tarde."],
};

/** `{exito: false, mensaje, detalle}`; bad credentials are 422 in this API, the rest follows the usual statuses. */
const envelopeErrors: ErrorFormat = {
  status: (error) => (error.reason === "INVALID_CREDENTIALS" ? 422 : fastApiStatus(error)),
  plainChallenge: true,
  body(error, status) {
    const [mensaje, detalle] = spanish[error.reason] ?? (status === 422 ? ["Datos inválidos", error.message] : ["Error", error.message]);
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
        const login = await flows.login(ctx, { identifier: text(body, "username"), password: text(body, "password") });
        sendJson(res, 200, { exito: true, mensaje: "Inicio de sesión exitoso", datos: datos(login) });
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
