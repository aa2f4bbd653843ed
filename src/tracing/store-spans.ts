/**
 * Client spans for the stores, made at our own adapter boundary rather than by OpenTelemetry's
 * pg and ioredis instrumentations (which patch modules as they are loaded, and so need an
 * `--import` hook under ESM, would miss PGlite, and record what their serializers choose):
 *
 * - PostgreSQL: every query Kysely runs passes the driver's `QueryObserver`
 *   (infra/postgres/unavailable.ts). Span `SELECT users`, with `db.query.text` the statement as
 *   compiled, placeholders and all: every value is a parameter ($1 …), and parameters are never
 *   recorded. A failure records the SQLSTATE, not the message (pg's detail quotes the values).
 * - Redis: ioredis publishes each command on Node's `diagnostics_channel` (`ioredis:command`);
 *   the span is named by the command and the key's shape, `EVALSHA auth:{…}:s:…`: the configured
 *   prefix, the family words and nothing else, never a value, an id, an address or a script's
 *   arguments (ioredis's own sanitizer keeps every argument of EVAL and EVALSHA, which here are
 *   secret hashes, so only the command name and the keys are read from it). The embedded
 *   stand-in (ioredis-mock) publishes nothing, so embedded mode has no Redis spans.
 * - bcrypt: one span per hash or verification, the same name for a real and a dummy verify.
 *
 * Store spans are made only inside a call's span that the sampler kept (OpenTelemetry's
 * `requireParentSpan`): start-up migrations, health checks, background listeners and calls sampled
 * out make none.
 */
import { tracingChannel } from "node:diagnostics_channel";
import { type Attributes, type ContextManager, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import type { CompiledQuery, RootOperationNode } from "kysely";
import type { PasswordHasher } from "../domain/ports.js";
import type { QueryObserver } from "../infra/postgres/unavailable.js";
import type { DatabaseTarget } from "./tracing.js";

interface Spans {
  readonly tracer: Tracer;
  readonly contextManager: ContextManager;
}

/** Runs `work` in a child span of the active call span, or as it is outside any call. */
function inChildSpan<T>(
  { tracer, contextManager }: Spans,
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  work: () => Promise<T>,
  errorType: (error: unknown) => string,
): Promise<T> {
  const parent = contextManager.active();
  if (trace.getSpan(parent)?.isRecording() !== true) return work();
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  return contextManager.with(trace.setSpan(parent, span), work).then(
    (result) => {
      span.end();
      return result;
    },
    (error: unknown) => {
      span.setAttribute("error.type", errorType(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      throw error;
    },
  );
}

const OPERATION =
  /^\s*(select|insert|update|delete|with|begin|commit|rollback|savepoint|release|create|alter|drop|lock|set|show|truncate)\b/i;

/** The operation and the table of a compiled query, from Kysely's operation tree (the SQL's first word for raw SQL). */
export function describeQuery(query: CompiledQuery): { operation: string; table: string | undefined } {
  const node = query.query as RootOperationNode & Record<string, any>;
  const tableOf = (table: any): string | undefined => {
    const inner = table?.kind === "AliasNode" ? table.node : table;
    return inner?.kind === "TableNode" ? inner.table?.identifier?.name : undefined;
  };
  switch (node.kind) {
    case "SelectQueryNode":
      return { operation: "SELECT", table: tableOf(node.from?.froms?.[0]) };
    case "InsertQueryNode":
      return { operation: "INSERT", table: tableOf(node.into) };
    case "UpdateQueryNode":
      return { operation: "UPDATE", table: tableOf(node.table) };
    case "DeleteQueryNode":
      return { operation: "DELETE", table: tableOf(node.from?.froms?.[0]) };
    default:
      return { operation: OPERATION.exec(query.sql)?.[1]?.toUpperCase() ?? "SQL", table: undefined };
  }
}

/** The PostgreSQL query observer: a client span per query. */
export function queryObserver(spans: Spans, target: DatabaseTarget): QueryObserver {
  const base: Attributes = { "db.system.name": "postgresql" };
  if (target.namespace !== undefined) base["db.namespace"] = target.namespace;
  if (target.address !== undefined) base["server.address"] = target.address;
  if (target.port !== undefined) base["server.port"] = target.port;
  return (query, execute) => {
    const { operation, table } = describeQuery(query);
    const attributes: Attributes = { ...base, "db.operation.name": operation, "db.query.text": query.sql };
    if (table !== undefined) attributes["db.collection.name"] = table;
    const sqlState = (error: unknown) => {
      const cause = (error as { cause?: { code?: unknown } }).cause;
      const code = (error as { code?: unknown }).code ?? cause?.code;
      if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
      return (error as { reason?: unknown }).reason === "UNAVAILABLE" ? "UNAVAILABLE" : (error as Error).name || "Error";
    };
    return inChildSpan(spans, table === undefined ? operation : `${operation} ${table}`, SpanKind.CLIENT, attributes, execute, sqlState);
  };
}

/** Commands that name no key (their first argument is something else). */
const KEYLESS = new Set([
  "auth",
  "client",
  "cluster",
  "command",
  "config",
  "dbsize",
  "echo",
  "exec",
  "hello",
  "info",
  "multi",
  "ping",
  "quit",
  "readonly",
  "script",
  "select",
  "time",
  "discard",
  "unwatch",
]);
const SCRIPTED = new Set(["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"]);
/** A family word of our key layouts (`s`, `idx`, `rl`, `mail`, `grants-changed`). */
const FAMILY = /^[a-z][a-z-]{0,15}$/;

/**
 * A key's shape: the configured prefix as it is, hash tags as `{…}`, at most two family words,
 * and `…` for the rest, so that `auth:{<user>}:s:<session>` is `auth:{…}:s:…` and
 * `auth:rl:mail:<tenant>:<address>` is `auth:rl:mail:…`.
 */
export function keyShape(key: string, prefix: string): string {
  if (!key.startsWith(prefix)) return "…";
  const parts = key.slice(prefix.length).split(":");
  const shape: string[] = [];
  let words = 0;
  for (const part of parts) {
    if (/^\{[^}]*\}$/.test(part)) {
      shape.push("{…}");
    } else if (FAMILY.test(part) && words < 2) {
      shape.push(part);
      words++;
    } else {
      shape.push("…");
      break;
    }
  }
  return `${prefix}${shape.join(":")}`;
}

/** What ioredis publishes on `ioredis:command` (arguments already partly sanitized by it; only keys are read here). */
interface CommandMessage {
  readonly command: string;
  readonly args: readonly string[];
  readonly database: number;
  readonly serverAddress?: string;
  readonly serverPort?: number;
  readonly error?: unknown;
}

/** Subscribes to ioredis's command channel; returns the unsubscribe. */
export function traceRedisCommands({ tracer, contextManager }: Spans, keyPrefix: string): () => void {
  const channel = tracingChannel<object, CommandMessage>("ioredis:command");
  const open = new WeakMap<object, Span>();
  const handlers = {
    start(message: CommandMessage) {
      const parent = contextManager.active();
      if (trace.getSpan(parent)?.isRecording() !== true) return;
      const command = String(message.command).toLowerCase();
      const operation = command.toUpperCase();
      let key: string | undefined;
      if (SCRIPTED.has(command)) key = Number(message.args[1]) > 0 ? message.args[2] : undefined;
      else if (!KEYLESS.has(command)) key = message.args[0];
      // ioredis redacts every argument of a command its allow-list omits (HGET, HEXISTS…) to "?":
      // such a span is named by its command alone.
      const shape = key === undefined || key === "?" ? undefined : keyShape(String(key), keyPrefix);
      const attributes: Attributes = {
        "db.system.name": "redis",
        "db.operation.name": operation,
        "db.namespace": String(message.database),
      };
      if (shape !== undefined) attributes["authward.redis.key"] = shape;
      if (message.serverAddress !== undefined) attributes["server.address"] = message.serverAddress;
      if (message.serverPort !== undefined) attributes["server.port"] = message.serverPort;
      const name = shape === undefined ? operation : `${operation} ${shape}`;
      open.set(message, tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent));
    },
    error(message: CommandMessage) {
      const span = open.get(message);
      if (span === undefined) return;
      const error = message.error as { name?: string; message?: string } | undefined;
      // A Redis error reply starts with its kind (NOSCRIPT, WRONGTYPE, LOADING); nothing after it is recorded.
      const kind = /^[A-Z]+(?= )/.exec(error?.message ?? "")?.[0];
      span.setAttribute("error.type", kind ?? error?.name ?? "Error");
      span.setStatus({ code: SpanStatusCode.ERROR });
    },
    asyncEnd(message: CommandMessage) {
      open.get(message)?.end();
      open.delete(message);
    },
  };
  channel.subscribe(handlers as Parameters<typeof channel.subscribe>[0]);
  return () => channel.unsubscribe(handlers as Parameters<typeof channel.unsubscribe>[0]);
}

/** A password hasher whose work is in spans: `bcrypt.hash`, `bcrypt.verify` (real or dummy alike). */
export function tracedPasswords<T extends PasswordHasher>(spans: Spans, hasher: T): T {
  const errorType = (error: unknown) => (error as Error).name || "Error";
  const traced = Object.create(hasher) as T;
  traced.hash = (password) => inChildSpan(spans, "bcrypt.hash", SpanKind.INTERNAL, {}, () => hasher.hash(password), errorType);
  traced.verify = (password, storedHash) =>
    inChildSpan(spans, "bcrypt.verify", SpanKind.INTERNAL, {}, () => hasher.verify(password, storedHash), errorType);
  traced.verifyAgainstDummy = (password) =>
    inChildSpan(spans, "bcrypt.verify", SpanKind.INTERNAL, {}, () => hasher.verifyAgainstDummy(password), errorType);
  return traced;
}
