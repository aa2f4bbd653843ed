/**
 * Structured JSON logs (pino). Secrets never reach a log line: flows log no request bodies, and
 * as a second line of defence the fields that could hold a secret are redacted at the top level of
 * a line and one level down (redactSecrets), and errors are serialized to their name, message,
 * code and stack only (no attached command arguments or parameters).
 */
import { type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger, pino } from "pino";
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

const CENSOR = "[redacted]";
const redactedKeys: ReadonlySet<string> = new Set(REDACTED_KEYS);
/** Request headers that carry credentials, in lower case: header names are case-insensitive. */
const secretHeaders: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie"]);

type Fields = Record<string, unknown>;
/** The fields to censor in one object (by key, or by index in an array), made only when there is one. */
type Changes = Map<string, unknown> | undefined;

/**
 * The logged fields with every value that could hold a secret censored: a key of REDACTED_KEYS at
 * the top level or one level down (in the elements of a top-level array too), and a credential
 * header in a `headers` object at the top level or one level down. Copy on write: the caller's
 * objects are never changed, and come back as they are when nothing needed censoring (the usual
 * case: a log line pays one walk of its keys). The walk stops at the third level, so a cycle or a
 * deep object costs nothing more; it is not bounded in width, reading only keys that pino
 * serializes afterwards anyway, so a wide object costs it less than it costs pino.
 */
export function redactSecrets(fields: Fields): Fields {
  try {
    return redactTopLevel(fields);
  } catch {
    // A getter that throws, a revoked proxy: fail closed instead of logging what could not be checked.
    return { redactionFailed: true };
  }
}

function redactTopLevel(fields: Fields): Fields {
  let changes: Changes;
  for (const key of Object.keys(fields)) {
    if (redactedKeys.has(key)) {
      if (holdsValue(fields, key)) changes = withChange(changes, key, CENSOR);
      continue;
    }
    const value = fields[key];
    // An error is left to its serializer, which keeps none of its other fields (and a copy would
    // lose its stack, an accessor of the original).
    if (typeof value !== "object" || value === null || key === "err") continue;
    const redacted = redactNested(value, key === "headers");
    if (redacted !== value) changes = withChange(changes, key, redacted);
  }
  return changes === undefined ? fields : copyWith(fields, changes);
}

/** A top-level value: an object's fields, or those of each object in an array. */
function redactNested(value: object, underHeaders: boolean): object {
  if (!Array.isArray(value)) return redactFields(value as Fields, underHeaders);
  let changes: Changes;
  for (let index = 0; index < value.length; index++) {
    const element: unknown = value[index];
    if (typeof element !== "object" || element === null || Array.isArray(element)) continue;
    const redacted = redactFields(element as Fields, underHeaders);
    if (redacted !== element) changes = withChange(changes, String(index), redacted);
  }
  return changes === undefined ? value : copyWith(value, changes);
}

/** The second level: REDACTED_KEYS (and credential headers when the object is `headers`), and one `headers` object further down. */
function redactFields(fields: Fields, underHeaders: boolean): Fields {
  let changes: Changes;
  for (const key of Object.keys(fields)) {
    if (redactedKeys.has(key) || (underHeaders && secretHeaders.has(key.toLowerCase()))) {
      if (holdsValue(fields, key)) changes = withChange(changes, key, CENSOR);
    } else if (key === "headers") {
      // The other values are not read: the walk costs no more than pino's own serialization.
      const value = fields[key];
      if (typeof value !== "object" || value === null || Array.isArray(value)) continue;
      const redacted = redactHeaders(value as Fields);
      if (redacted !== value) changes = withChange(changes, key, redacted);
    }
  }
  return changes === undefined ? fields : copyWith(fields, changes);
}

/** The third level, a `headers` object: its credential headers. */
function redactHeaders(headers: Fields): Fields {
  let changes: Changes;
  for (const key of Object.keys(headers)) {
    if (secretHeaders.has(key.toLowerCase()) && holdsValue(headers, key)) changes = withChange(changes, key, CENSOR);
  }
  return changes === undefined ? headers : copyWith(headers, changes);
}

/**
 * Whether a field to censor would reach the line: pino leaves an undefined value out (so no field
 * is added), and a getter is censored without being called (it may throw).
 */
function holdsValue(fields: object, key: string): boolean {
  const descriptor = Object.getOwnPropertyDescriptor(fields, key);
  return descriptor !== undefined && (descriptor.get !== undefined || descriptor.value !== undefined);
}

function withChange(changes: Changes, key: string, value: unknown): Map<string, unknown> {
  return (changes ?? new Map<string, unknown>()).set(key, value);
}

/**
 * A shallow copy with some fields replaced, keeping the original's prototype, its other properties
 * as they are (getters not called) and the order of its keys. Defined, never assigned: a
 * `__proto__` key made by JSON.parse stays a plain field.
 */
function copyWith<T extends object>(original: T, changes: Map<string, unknown>): T {
  if (Array.isArray(original)) {
    const copy: unknown[] = original.slice();
    for (const [index, value] of changes) copy[Number(index)] = value;
    return copy as T;
  }
  const descriptors: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(original);
  for (const [key, value] of changes) {
    Object.defineProperty(descriptors, key, { value: { value, writable: true, enumerable: true, configurable: true } });
  }
  return Object.create(Object.getPrototypeOf(original), descriptors) as T;
}

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

export interface LoggerOptions {
  /** Without `destination`: bytes held before a write to stdout (0: each line as it comes); see stdoutBuffered. */
  readonly bufferBytes?: number;
}

export function createLogger(level: LogLevel, destination?: DestinationStream, options: LoggerOptions = {}): Logger {
  const bufferBytes = options.bufferBytes ?? 0;
  const buffered = destination === undefined && bufferBytes > 0 ? stdoutBuffered(bufferBytes) : undefined;
  const logger = pino(
    {
      level,
      // An error or a fatal line is written at once, whatever is held: it is the line most wanted
      // if the process is about to end (a fatal one is followed by an exit, which flushes anyway).
      ...(buffered === undefined
        ? {}
        : {
            hooks: {
              logMethod(this: Logger, args: Parameters<Logger["info"]>, method: Logger["info"], level: number) {
                method.apply(this, args);
                if (level >= ERROR_LEVEL) buffered.flushSoon();
              },
            },
          }),
      base: { service: "auth-service", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: (error: unknown) => serializeError(error) },
      // Redaction here instead of pino's `redact` option, which parsed its paths again and cloned
      // on every line (issue 17). `bindings` formats the base only: see redactChildBindings.
      formatters: { level: (label) => ({ level: label }), bindings: redactSecrets, log: redactSecrets },
    },
    destination ?? buffered?.stream,
  );
  return redactChildBindings(logger);
}

/** pino's number for `error`. */
const ERROR_LEVEL = 50;
/** The longest a line waits while fewer than `bufferBytes` are held. */
const FLUSH_INTERVAL_MS = 250;

/**
 * stdout, written once `bytes` are held or every 250 ms, whichever comes first: pino's
 * asynchronous destination with `minLength`, which its documentation recommends for the least
 * overhead. Each call writes one line at `info` (a Refresh or a Login: ~300 bytes); written one
 * at a time, each line cost a write handed to libuv's thread pool, ~4 % of a Refresh's CPU (issue
 * 17, BENCHMARKS.md). What that trades, and why it is acceptable:
 * - Lost on a crash: pino flushes what it holds, synchronously, when the process exits (a graceful
 *   stop, a `fatal` line followed by `process.exit`), and an error or fatal line is sent for
 *   writing at once. What a kill -9, the OOM killer, a native crash or a power cut loses is at most
 *   `bytes` or 250 ms of lines, against the one write in flight before (pino's default
 *   destination is asynchronous too). The call log is operational: nothing that must survive is
 *   only in it: the security events (a reused refresh token, a lock-out, administration) are
 *   rows of PostgreSQL's audit table (infra/postgres/audit.ts), which the call awaits.
 * - Delayed: a line reaches stdout up to 250 ms late on a quiet process.
 * LOG_BUFFER_BYTES=0 writes each line as it comes, as before.
 */
function stdoutBuffered(bytes: number): { readonly stream: DestinationStream; flushSoon(): void } {
  const stream = pino.destination({ dest: 1, sync: false, minLength: bytes });
  // sonic-boom's flush writes even when nothing is held (an empty write); its held length is not
  // public, so it is read if present and flushed anyway if not.
  const flushSoon = () => {
    const held = (stream as unknown as { _len?: unknown })._len;
    if (typeof held === "number" && held <= 0) return;
    try {
      stream.flush();
    } catch {
      // Destroyed (stdout closed): pino's own error handling applies; nothing to flush into.
    }
  };
  setInterval(flushSoon, FLUSH_INTERVAL_MS).unref();
  return { stream, flushSoon };
}

/**
 * Censors the bindings of the logger's children, which pino writes without its `bindings`
 * formatter, as it does those given later to setBindings. Children inherit both methods (pino
 * makes them with Object.create), so grandchildren are covered too.
 */
function redactChildBindings(logger: Logger): Logger {
  const { child, setBindings } = logger;
  const redact = (bindings: Bindings): Bindings => (typeof bindings === "object" && bindings !== null ? redactSecrets(bindings) : bindings);
  return Object.assign(logger, {
    child(this: Logger, bindings: Bindings, options?: ChildLoggerOptions) {
      return Reflect.apply(child, this, [redact(bindings), options]) as Logger;
    },
    setBindings(this: Logger, bindings: Bindings) {
      Reflect.apply(setBindings, this, [redact(bindings)]);
    },
  });
}
