/**
 * What a call's headers (HTTP) or metadata (gRPC) say, read once for every transport: the request
 * id, the credential in `authorization`, the tenant in `x-tenant`, the client's address (the peer,
 * or what trusted proxies forwarded). The domain
 * receives these values, never a header.
 */
import { randomUUID } from "node:crypto";
import { BlockList, isIPv4, isIPv6 } from "node:net";
import type { ClientAddressConfig } from "../../config.js";
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

/** The proxies whose forwarding header is believed, and which header they write. */
export interface TrustedProxies {
  trusts(address: string): boolean;
  readonly header: "x-forwarded-for" | "forwarded";
}

/** TRUSTED_PROXIES as a lookup (node:net's BlockList, IPv4 and IPv6 CIDRs). */
export function trustedProxies(config: ClientAddressConfig): TrustedProxies | undefined {
  if (config.trustedProxies.length === 0) return undefined;
  const list = new BlockList();
  for (const { address, prefix, family } of config.trustedProxies) list.addSubnet(address, prefix, family);
  return { trusts: (address) => list.check(address, isIPv4(address) ? "ipv4" : "ipv6"), header: config.header };
}

/** Hops a forwarding header may name; further ones (to the left) are never looked at. */
const MAX_HOPS = 32;

/**
 * The client's address, the one place that reads it for every transport: the socket peer, or,
 * when that peer is a trusted proxy, the right-most address of the proxies' forwarding header
 * (`X-Forwarded-For`, or RFC 7239 `Forwarded` `for=`, whichever CLIENT_ADDRESS_HEADER names) that
 * is not itself a trusted proxy. Entries to its left were written by the client and could say
 * anything; a header from an untrusted peer is ignored whole. Only the configured header is read:
 * a proxy that appends to X-Forwarded-For passes a client's own `Forwarded` through untouched. An
 * entry that is not an address (`unknown`, an obfuscated `_hidden`) ends the walk at the last
 * trusted hop. IPv4-mapped IPv6 addresses are given as IPv4.
 */
export function clientAddressFrom(
  peer: string | undefined,
  header: (name: string) => string | undefined,
  proxies: TrustedProxies | undefined,
): string | undefined {
  let address = normalizeAddress(peer);
  if (proxies === undefined || address === undefined || !proxies.trusts(address)) return address;
  const value = header(proxies.header);
  if (value === undefined) return address;
  const hops = proxies.header === "forwarded" ? forwardedFor(value) : value.split(",");
  for (let i = hops.length - 1, seen = 0; i >= 0 && seen < MAX_HOPS; i--, seen++) {
    const hop = normalizeAddress(hops[i]);
    if (hop === undefined) return address;
    address = hop;
    if (!proxies.trusts(hop)) return hop;
  }
  return address;
}

/** The `for=` values of a Forwarded header (RFC 7239 §4), left to right, unquoted; "" for an element without one. */
function forwardedFor(value: string): string[] {
  return value.split(",").map((element) => {
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === "for")
        return pair
          .slice(eq + 1)
          .trim()
          .replace(/^"(.*)"$/, "$1");
    }
    return "";
  });
}

/**
 * An address as written by a socket or a proxy (`1.2.3.4`, `1.2.3.4:80`, `::1`, `[2001:db8::1]:443`,
 * `::ffff:1.2.3.4`) in its plain form, or undefined when it is not an IP address.
 */
export function normalizeAddress(text: string | undefined): string | undefined {
  let candidate = text?.trim();
  if (candidate === undefined || candidate === "" || candidate.length > 64) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(candidate);
  if (bracketed?.[1] !== undefined) candidate = bracketed[1];
  else if (/^[\d.]+:\d+$/.test(candidate)) candidate = candidate.slice(0, candidate.indexOf(":"));
  candidate = candidate.split("%", 1)[0] ?? "";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(candidate);
  if (mapped?.[1] !== undefined) candidate = mapped[1];
  if (isIPv4(candidate)) return candidate;
  return isIPv6(candidate) ? candidate.toLowerCase() : undefined;
}
