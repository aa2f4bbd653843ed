/**
 * Structured JSON logs (pino). Secrets never reach a log line: flows log no request bodies, and
 * as a second line of defence the fields that could hold a secret are redacted wherever they
 * appear, and errors are serialized to their name, message, code and stack only (no attached
 * command arguments or parameters).
 */
import { type DestinationStream, type Logger, pino } from "pino";
import type { LogLevel } from "./config.js";

const REDACTED_KEYS = [
  "authorization",
  "password",
  "currentPassword",
  "newPassword",
  "current_password",
  "new_password",
  "token",
  "accessToken",
  "refreshToken",
  "access_token",
  "refresh_token",
  "secret",
  "privateKey",
  // Second factors. Not `code`: the call log line's gRPC code has that name (a TOTP code is never
  // logged; the suite's log check looks for every code the tests send).
  "mfaTicket",
  "mfa_ticket",
  "mfa_token",
  "otp",
  "otpauthUri",
  "recoveryCode",
  "recovery_code",
  "recoveryCodes",
  "recovery_codes",
];

export const redactPaths = [
  ...REDACTED_KEYS,
  ...REDACTED_KEYS.map((key) => `*.${key}`),
  'headers["authorization"]',
  "*.headers.authorization",
];

interface SerializedError {
  type: string;
  message: string;
  code?: string | number;
  stack?: string;
  cause?: SerializedError | string;
}

export function serializeError(error: unknown, depth = 0): SerializedError | string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    message: error.message,
    ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
    ...(error.cause !== undefined && depth < 3 ? { cause: serializeError(error.cause, depth + 1) } : {}),
  };
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "auth-service", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths, censor: "[redacted]" },
      serializers: { err: (error: unknown) => serializeError(error) },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
