/**
 * Keys a caller names are data, never a path into an object: the property names that reach an
 * object's prototype are refused wherever input names keys (JSON bodies, query field paths, forms,
 * imported files, permission objects), and JSON is parsed by one function that enforces it.
 *
 * Why refuse rather than only store such keys safely: `obj[key] = value` with key `__proto__`
 * replaces an ordinary object's prototype, and a field path that walks `__proto__` reaches
 * `Object.prototype` itself, which every object of the process shares (one such request made every
 * later call of every worker fail). Null-prototype objects make an assignment harmless, but a key
 * that no legitimate client sends is better refused at the edge with INVALID_ARGUMENT than carried
 * into code that may one day use an ordinary object.
 */
import { AuthError } from "./errors.js";

/** Property names that walk into a prototype or a constructor when used as keys. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

/** INVALID_REQUEST naming the offending key. */
export function forbiddenKey(key: string, where = "the request"): AuthError {
  return new AuthError("INVALID_REQUEST", {
    message: `${where} names the key ${JSON.stringify(key)}, which is not allowed`,
    metadata: { field: key },
  });
}

/** Throws INVALID_REQUEST when `key` is one of the forbidden names; returns it otherwise. */
export function checkKey(key: string, where?: string): string {
  if (FORBIDDEN_KEYS.has(key)) throw forbiddenKey(key, where);
  return key;
}

// A document can name a forbidden key only by spelling it, or by \u-escaping some of its letters.
const mayNameForbiddenKey = /__proto__|constructor|prototype|\\u/;

/**
 * `JSON.parse`, refusing a forbidden key anywhere in the document (INVALID_REQUEST). A SyntaxError
 * for text that is not JSON, as JSON.parse throws. The reviver runs only on documents that could
 * name such a key, so the usual body pays one regular-expression scan.
 */
export function parseJson(text: string, where?: string): unknown {
  if (!mayNameForbiddenKey.test(text)) return JSON.parse(text);
  return JSON.parse(text, function reviver(key, value) {
    // `this` is the holder; array indices and the root ("") are never forbidden names.
    if (FORBIDDEN_KEYS.has(key)) throw forbiddenKey(key, where);
    return value;
  });
}

/** An empty object with no prototype: assigning any key to it only ever sets an own property. */
export function emptyRecord<T = unknown>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
