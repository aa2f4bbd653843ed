/** Reading and writing HTTP bodies, for every route on the HTTP port. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { AuthError } from "../../domain/errors.js";
import { checkKey, parseJson } from "../../domain/keys.js";

export function tooLarge(limit: number): AuthError {
  return new AuthError("REQUEST_TOO_LARGE", { message: `The request body exceeds ${limit} bytes.` });
}

/**
 * A body the client stopped sending: it closed the connection, so nobody will read an answer. An
 * incomplete request, like a truncated one, not a fault of ours: counted and logged as a refused
 * input, never as INTERNAL (anyone could otherwise raise the server-error rate and fill the error log).
 */
function bodyCutShort(cause: unknown): AuthError {
  return new AuthError("INVALID_REQUEST", { message: "The request body ended early: the client closed the connection.", cause });
}

/**
 * Reads the whole body; rejects with REQUEST_TOO_LARGE as soon as it passes `limit` (at once when
 * Content-Length says so), without buffering the excess, and with INVALID_REQUEST when the client
 * hangs up before the body's end.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks, size)));
    req.once("error", (error) => reject(req.destroyed && !req.complete ? bodyCutShort(error) : error));
  });
}

/** The media type of the request, lowercased, without parameters; "" when absent. */
export function mediaTypeOf(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";", 1)[0]?.trim().toLowerCase() ?? "";
}

function wrongContentType(expected: string): AuthError {
  return new AuthError("INVALID_REQUEST", { message: `The request body must be ${expected}.`, metadata: { field: "content-type" } });
}

/** A JSON object body (an empty body is `{}`); INVALID_REQUEST when it is not JSON or not an object. */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const bytes = await readBody(req, limit);
  if (bytes.length === 0) return {};
  if (mediaTypeOf(req) !== "application/json") throw wrongContentType("application/json");
  let value: unknown;
  try {
    value = parseJson(bytes.toString("utf8"), "the request body");
  } catch (error) {
    if (error instanceof AuthError) throw error;
    throw new AuthError("INVALID_REQUEST", { message: "The request body is not valid JSON." });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AuthError("INVALID_REQUEST", { message: "The request body must be a JSON object." });
  }
  return value as Record<string, unknown>;
}

/**
 * An application/x-www-form-urlencoded body. Fields are read by name from the URLSearchParams, never
 * copied into an object; a field named `__proto__`, `constructor` or `prototype` is refused all the
 * same, like such a key anywhere else.
 */
export async function readForm(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  const bytes = await readBody(req, limit);
  if (mediaTypeOf(req) !== "application/x-www-form-urlencoded") throw wrongContentType("application/x-www-form-urlencoded");
  const form = new URLSearchParams(bytes.toString("utf8"));
  for (const name of form.keys()) checkKey(name, "the form");
  return form;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/**
 * Calls `start` once the response has been handed to the operating system (`finish`), or the
 * connection has closed without it (`close`): the moment background work may begin.
 */
export function afterHttpAnswer(res: ServerResponse, start: () => void): void {
  if (res.writableFinished || res.destroyed) {
    setImmediate(start);
    return;
  }
  let started = false;
  const go = () => {
    if (started) return;
    started = true;
    res.off("finish", go);
    res.off("close", go);
    start();
  };
  res.once("finish", go);
  res.once("close", go);
}

/** An HTML page, never cached; the caller adds the page's Content-Security-Policy. */
export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": String(Buffer.byteLength(html)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(html);
}
