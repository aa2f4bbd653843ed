/**
 * The Solicitud Transporte API (seed 002): `/auth/login` and `/auth/refresh` (JSON, camelCase) in
 * the envelope `{exito, mensaje, datos}`, errors as `{exito: false, mensaje, detalle}` (401 for a
 * missing, invalid or expired token, 422 for bad credentials, 429 when limited). Its documented
 * client keeps its first refresh token, so `/auth/refresh` does not rotate it (see domain/refresh.ts).
 */

import type { ServerResponse } from "node:http";
import { create } from "@bufbuild/protobuf";
import type { AuthError, AuthErrorReason } from "../../../domain/errors.js";
import { refresh } from "../../../domain/refresh.js";
import { type LoginResponse, type RefreshResponse, RefreshResponseSchema } from "../../../gen/auth/v1/auth_pb.js";
import { tokensToProto } from "../../convert.js";
import { invoke } from "../../handlers.js";
import { readJsonObject, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { type CompatOptions, compatRoute, fastApiStatus, text } from "./common.js";

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

function sendEnvelopeError(res: ServerResponse, error: AuthError): void {
  // Bad credentials are 422 in this API; the rest follows the usual statuses.
  const status = error.reason === "INVALID_CREDENTIALS" ? 422 : fastApiStatus(error);
  const [mensaje, detalle] = spanish[error.reason] ?? (status === 422 ? ["Datos inválidos", error.message] : ["Error", error.message]);
  sendJson(res, status, { exito: false, mensaje, detalle, reason: error.reason }, status === 401 ? { "www-authenticate": "Bearer" } : {});
}

function datos(tokens: LoginResponse | RefreshResponse) {
  const { user } = tokens;
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    tokenType: "bearer",
    expiresIn: tokens.expiresIn,
    user: user && { id: user.id, username: user.username, email: user.email, fullName: user.fullName, role: user.role, roles: user.roles },
  };
}

export function solicitudRoutes({ handlers, deps, maxRequestBytes }: CompatOptions): HttpRoute[] {
  return [
    compatRoute(
      "POST",
      "/auth/login",
      "compat.solicitud.login",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const login = await invoke(handlers, "login", { identifier: text(body, "username"), password: text(body, "password") }, ctx);
        sendJson(res, 200, { exito: true, mensaje: "Inicio de sesión exitoso", datos: datos(login) });
      },
      sendEnvelopeError,
    ),
    compatRoute(
      "POST",
      "/auth/refresh",
      "compat.solicitud.refresh",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const tokens = create(
          RefreshResponseSchema,
          tokensToProto(await refresh(deps, ctx, { refreshToken: text(body, "refreshToken") }, "keep")),
        );
        sendJson(res, 200, { exito: true, mensaje: "Token renovado", datos: datos(tokens) });
      },
      sendEnvelopeError,
    ),
  ];
}
