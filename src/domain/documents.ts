/**
 * Bounded JSON documents that administrators store: a role's permissions and a user's attributes.
 * Each is checked whole before it is stored (size, depth, key names, no NUL, finite numbers) and
 * copied into objects without a prototype, and permission paths (`reports.view`) are resolved
 * against merged permissions here.
 *
 * Why these bounds: the documents travel in every Me answer and are merged on every permission
 * check, so a caller must not be able to store a megabyte or a thousand levels (a stack overflow
 * when walked). Keys are data, never a property path: the prototype names are refused, as
 * everywhere input names keys (keys.ts), and so are the characters identifiers refuse (control,
 * format and invisible ones), which break logs and UIs and would let two keys look the same.
 */
import { type AuthErrorReason, invalidField } from "./errors.js";
import { findRefusedCharacter } from "./identifiers.js";
import { emptyRecord, isForbiddenKey } from "./keys.js";

export interface DocumentLimits {
  /** The request field, for the error's `metadata.field`. */
  readonly field: string;
  readonly reason: AuthErrorReason;
  /** Serialized as JSON, in bytes. */
  readonly maxBytes: number;
  /** Levels of objects and arrays, the document itself being level 1. */
  readonly maxDepth: number;
  /** Permission keys cannot hold `.`, the separator of permission paths. */
  readonly dotsInKeys: boolean;
}

export const PERMISSIONS_LIMITS: DocumentLimits = {
  field: "permissions",
  reason: "INVALID_PERMISSIONS",
  maxBytes: 16_384,
  maxDepth: 8,
  dotsInKeys: false,
};

/**
 * The most bytes of permissions all the roles of one tenant may hold together (as PostgreSQL's
 * jsonb writes them). A user's permissions are their roles' merged, and travel whole in every Me,
 * every ListUsers row and every entry of ValidateToken's grants cache: bounded per role only, 64
 * roles of 16 KB made one user's 1 MB, and a tenant administrator's ListUsers of 500 such users
 * answered 423 MB, held the event loop for seconds and took the process to 2.7 GB, for every
 * tenant it serves. Under this budget a user's merged permissions stay under 64 KB.
 */
export const TENANT_PERMISSIONS_MAX_BYTES = 65_536;

export const ATTRIBUTES_LIMITS: DocumentLimits = {
  field: "attributes",
  reason: "INVALID_ATTRIBUTES",
  maxBytes: 4096,
  maxDepth: 4,
  dotsInKeys: true,
};

const MAX_KEY_LENGTH = 128;
// A lone surrogate is no character: JSON can escape one (`"\ud800"`), protobuf's string fields
// refuse it, and PostgreSQL's jsonb refuses it (the statement failed: a 500).
const loneSurrogate = /\p{Cs}/u;

/** What is wrong with a document's key, if anything. */
function keyProblem(key: string, limits: DocumentLimits): string | undefined {
  if (isForbiddenKey(key)) return `the key ${JSON.stringify(key)} is not allowed`;
  if (key === "" || key.length > MAX_KEY_LENGTH) return `keys must be 1 to ${MAX_KEY_LENGTH} characters`;
  // The identifiers' refusal (identifiers.ts): nothing invisible (zero-width, bidi controls, soft
  // hyphen…), no control character or lone surrogate, so that no two keys look the same.
  const refused = findRefusedCharacter(key);
  if (refused !== undefined) {
    const codePoint = `U+${refused.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0")}`;
    return `keys must not contain control, format, invisible, private-use or unassigned characters (found ${codePoint})`;
  }
  if (!limits.dotsInKeys && key.includes(".")) return `the key ${JSON.stringify(key)} contains '.', the path separator`;
  return undefined;
}

/**
 * Checks a document against its limits and returns a copy made of prototype-less objects;
 * INVALID_ARGUMENT with the limits' reason, naming the offending key path, otherwise.
 */
export function checkDocument(value: unknown, limits: DocumentLimits): Record<string, unknown> {
  const fail = (path: string, problem: string) => invalidField(limits.field, `${path === "" ? "" : `${path}: `}${problem}`, limits.reason);

  const copy = (node: unknown, path: string, depth: number): unknown => {
    if (node === null || typeof node === "boolean" || typeof node === "string" || typeof node === "number") {
      if (typeof node === "number" && !Number.isFinite(node)) throw fail(path, "numbers must be finite");
      if (typeof node === "string" && node.includes("\u0000")) throw fail(path, "strings must not contain NUL characters");
      if (typeof node === "string" && loneSurrogate.test(node)) throw fail(path, "strings must not contain lone surrogates");
      return node;
    }
    if (typeof node !== "object") throw fail(path, "only JSON values are allowed");
    if (depth > limits.maxDepth) throw fail(path, `nested deeper than ${limits.maxDepth} levels`);
    if (Array.isArray(node)) return node.map((item, index) => copy(item, `${path}[${index}]`, depth + 1));
    const out = emptyRecord();
    // Own keys, "__proto__" included when a decoder defined it as an own property.
    for (const key of Object.keys(node)) {
      const at = path === "" ? key : `${path}.${key}`;
      const problem = keyProblem(key, limits);
      if (problem !== undefined) throw fail(path, problem);
      out[key] = copy((node as Record<string, unknown>)[key], at, depth + 1);
    }
    return out;
  };

  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail("", "must be a JSON object");
  const document = copy(value, "", 1) as Record<string, unknown>;
  const bytes = Buffer.byteLength(JSON.stringify(document), "utf8");
  if (bytes > limits.maxBytes) throw fail("", `${bytes} bytes of JSON, more than the ${limits.maxBytes} allowed`);
  return document;
}

/** Longest permission path ValidateToken accepts, in keys. */
export const MAX_PERMISSION_PATH_KEYS = PERMISSIONS_LIMITS.maxDepth;

/** Splits `reports.view` into its keys; INVALID_REQUEST naming `field` for a malformed path. */
export function parsePermissionPath(field: string, path: string): string[] {
  const keys = path.split(".");
  if (keys.length > MAX_PERMISSION_PATH_KEYS) throw invalidField(field, `at most ${MAX_PERMISSION_PATH_KEYS} keys per path`);
  for (const key of keys) {
    // A document's own key rules: a path naming a key no document can hold is malformed, not unheld.
    if (keyProblem(key, PERMISSIONS_LIMITS) !== undefined) {
      throw invalidField(field, `${JSON.stringify(path.slice(0, 200))} is not a permission path such as "reports.view"`);
    }
  }
  return keys;
}

/** Whether merged permissions hold `true` at the path (own properties only, never a prototype's). */
export function holdsPermission(permissions: Readonly<Record<string, unknown>>, keys: readonly string[]): boolean {
  let node: unknown = permissions;
  for (const key of keys) {
    if (typeof node !== "object" || node === null || Array.isArray(node) || !Object.hasOwn(node, key)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return node === true;
}
