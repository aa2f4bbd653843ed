/**
 * The key names of the abuse limits (infra/redis/abuse-limits.ts), usable on Redis Cluster: one
 * key per operation, or keys sharing the account's hash tag.
 * - `<prefix>{<acct>}:oa`: the owner's addresses, a hash of address bucket -> last sign-in (ms);
 *   `<acct>` is the user's id, so this key shares the user's session slot (keys.ts);
 * - `<prefix>rl:{<acct>}:aa:<bucket>`: the (account, address) pair (abuse-scripts.ts);
 * - `<prefix>rl:{<acct>}:aa`: the set of buckets locked on that account, for `unlock`;
 * - `<prefix>rl:a:<acct>`, `<prefix>rl:ip:<bucket>`: failures per account and per address
 *   (rate-limiter-flexible counters; it adds the `:`);
 * - `<prefix>rl:mc:<bucket>`, `<prefix>rl:mt:<mailbox>`, `<prefix>rl:mo:<acct>`: mails per
 *   client, per mailbox (anonymous callers) and per account (its owner's addresses).
 * `<acct>` is the user's id, or `i:` and a digest of the tenant and lookup key for an identifier
 * that names nobody; `<mailbox>` is a digest too, so no address is written into a key name.
 * `<bucket>` is the client address, an IPv6 client's /64 (one subscriber usually holds a whole
 * /64, and picks a new address in it at will), or `unknown`.
 */
import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { Account } from "../../domain/abuse-limits.js";

const digest = (text: string) => createHash("sha256").update(text).digest("base64url").slice(0, 22);

/** The key tag of an account: the user's id, or a digest of what names nobody. */
export function accountTag(account: Account): string {
  if (account.kind === "user") {
    if (/[{}]/.test(account.userId)) throw new Error("a user id must not contain '{' or '}'");
    return account.userId;
  }
  return `i:${digest(`${account.tenant}\u0000${account.identifier}`)}`;
}

/** The counter key of a mailbox (a lookup key): a digest. */
export const mailboxTag = (mailbox: string) => digest(`mailbox\u0000${mailbox}`);

export interface LimitKeys {
  owner(tag: string): string;
  pair(tag: string, bucket: string): string;
  pairIndex(tag: string): string;
}

export function limitKeys(prefix: string): LimitKeys {
  return {
    owner: (tag) => `${prefix}{${tag}}:oa`,
    pair: (tag, bucket) => `${prefix}rl:{${tag}}:aa:${bucket}`,
    pairIndex: (tag) => `${prefix}rl:{${tag}}:aa`,
  };
}

/**
 * The bucket a client address is counted in: an IPv4 address as it is (an IPv4-mapped IPv6 address
 * as its IPv4), an IPv6 address by its /64, anything else (no address) as `unknown`.
 */
export function addressBucket(address: string | undefined): string {
  if (address === undefined) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(address)) return address;
  const bare = address.split("%", 1)[0] ?? "";
  if (!isIPv6(bare)) return "unknown";
  return `${ipv6Groups(bare).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, in lowercase hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  let text = address.toLowerCase();
  // A trailing dotted IPv4 part is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const middle = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...middle, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}
