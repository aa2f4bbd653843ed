/**
 * MFA tickets: what Login hands out instead of tokens when a second factor is needed, and what
 * VerifyMfa (or the enrolment of a required factor) takes back. `mfa.<user>.<secret>`: the user's
 * UUID as 16 bytes and 256 random bits, both base64url. Clients treat it as opaque.
 *
 * The user part finds the ticket under the user's Redis Cluster hash tag without a lookup; it is
 * no secret (the same id is the `sub` of every access token). Only a SHA-256 of the secret is
 * stored, so a copy of Redis holds no usable ticket. The `mfa.` prefix keeps a ticket from ever
 * parsing as a refresh token.
 */
import { createHash, randomBytes } from "node:crypto";
import { isUserId } from "../validation.js";

const PREFIX = "mfa";
const USER_ID_BYTES = 16;
const SECRET_BYTES = 32;
const base64url = /^[A-Za-z0-9_-]+$/;
const encodedLength = (bytes: number) => Math.ceil((bytes * 4) / 3);

export interface ParsedTicket {
  readonly userId: string;
  readonly secret: string;
}

export function newTicket(userId: string): { readonly ticket: string; readonly secret: string } {
  if (!isUserId(userId)) throw new Error("user ids are UUIDs");
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  const user = Buffer.from(userId.replaceAll("-", ""), "hex").toString("base64url");
  return { ticket: `${PREFIX}.${user}.${secret}`, secret };
}

/** Splits a ticket; null for anything that is not exactly our shape. */
export function parseTicket(ticket: string): ParsedTicket | null {
  const parts = ticket.split(".");
  if (parts.length !== 3 || parts[0] !== PREFIX) return null;
  const [, user = "", secret = ""] = parts;
  if (user.length !== encodedLength(USER_ID_BYTES) || !base64url.test(user)) return null;
  if (secret.length !== encodedLength(SECRET_BYTES) || !base64url.test(secret)) return null;
  const bytes = Buffer.from(user, "base64url");
  // One text per user: a part whose unused trailing bits are set is not ours.
  if (bytes.length !== USER_ID_BYTES || bytes.toString("base64url") !== user) return null;
  const hex = bytes.toString("hex");
  return { userId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`, secret };
}

/** The stored form of a ticket's secret. */
export function hashTicketSecret(secret: string): string {
  return createHash("sha256").update(`auth.v1 mfa ticket\u0000${secret}`, "utf8").digest("base64url");
}
