/**
 * What a call's headers (HTTP) or metadata (gRPC) say, read once for every transport: the request
 * id, the credential in `authorization`, the tenant in `x-tenant`, the client's address. The domain
 * receives these values, never a header.
 */
import { randomUUID } from "node:crypto";
import type { Credential } from "../../domain/model.js";

const requestIdShape = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's `x-request-id` when it is sane, otherwise a new one. */
export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && requestIdShape.test(header) ? header : randomUUID();
}

const NO_CREDENTIAL: Credential = Object.freeze({ kind: "none" });
const MALFORMED: Credential = Object.freeze({ kind: "malformed" });

/** The credential of an `authorization` header: `Bearer <token>` (RFC 6750 §2.1, scheme in any case), none, or malformed. */
export function credentialFrom(authorization: string | undefined): Credential {
  if (authorization === undefined) return NO_CREDENTIAL;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization.trim());
  return match?.[1] === undefined ? MALFORMED : { kind: "bearer", token: match[1] };
}

/** The tenant an `x-tenant` header names, trimmed; undefined when absent or blank (the default tenant then). */
export function tenantFrom(header: string | undefined): string | undefined {
  const trimmed = header?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

/**
 * The client's address: the socket peer. The one place that will also read X-Forwarded-For, and
 * only from trusted proxies, when rate limits need the address behind a proxy.
 */
export function clientAddressFrom(peer: string | undefined): string | undefined {
  return peer;
}
