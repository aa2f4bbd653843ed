/**
 * Opaque page tokens for keyset paging (AIP-158): a token holds the last position served and a
 * fingerprint of the filters it was made for, so a page boundary never shifts when rows are added
 * and a token cannot be replayed with other filters (INVALID_PAGE_TOKEN). Tokens are not secret:
 * a forged position only moves within what the caller may list anyway.
 */
import { createHash } from "node:crypto";
import { AuthError, invalidField } from "../errors.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** The page size to use: the default for 0, at most MAX_PAGE_SIZE; a negative size is INVALID_REQUEST. */
export function pageSize(requested: number): number {
  if (requested < 0) throw invalidField("page_size", "must not be negative");
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, MAX_PAGE_SIZE);
}

function fingerprint(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}

export function encodePageToken(position: string, filters: unknown): string {
  return Buffer.from(JSON.stringify({ p: position, f: fingerprint(filters) }), "utf8").toString("base64url");
}

/**
 * The position a page token holds (null for an empty token: the first page); INVALID_PAGE_TOKEN
 * when it is not one of ours, or was made for other filters. `shape` checks the position.
 */
export function decodePageToken(token: string, filters: unknown, shape: RegExp): string | null {
  if (token === "") return null;
  const invalid = () => new AuthError("INVALID_PAGE_TOKEN", { metadata: { field: "page_token" } });
  if (token.length > 512 || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const { p, f } = (typeof decoded === "object" && decoded !== null ? decoded : {}) as { p?: unknown; f?: unknown };
  if (typeof p !== "string" || !shape.test(p) || f !== fingerprint(filters)) throw invalid();
  return p;
}

/** The page and the token of the next one, from `limit + 1` rows read. */
export function page<T>(rows: readonly T[], limit: number, positionOf: (row: T) => string, filters: unknown) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const nextPageToken = rows.length > limit && last !== undefined ? encodePageToken(positionOf(last), filters) : "";
  return { items, nextPageToken };
}

/**
 * A page token whose position is a row's number or id: a positive decimal integer up to `max`, the
 * largest value its column (or a JS number) holds. Tokens are not secret, so a forged position past
 * it must be INVALID_PAGE_TOKEN, not a query PostgreSQL refuses (bigint out of range: a 500).
 */
export function decodeNumberPageToken(token: string, filters: unknown, max: bigint): string | null {
  const position = decodePageToken(token, filters, /^[1-9][0-9]{0,18}$/);
  if (position !== null && BigInt(position) > max) throw new AuthError("INVALID_PAGE_TOKEN", { metadata: { field: "page_token" } });
  return position;
}
