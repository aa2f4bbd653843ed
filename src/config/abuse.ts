/**
 * The abuse limits in the configuration (domain/abuse-limits.ts explains them), handed whole to
 * their Redis adapter, and where the client address they count comes from (TRUSTED_PROXIES),
 * handed to the call envelope. Each key beside its variable.
 */
import { isIP } from "node:net";
import type { ConfigReader } from "./reader.js";

/**
 * The abuse limits (domain/abuse-limits.ts explains them), handed whole to their Redis adapter.
 * Defaults follow OWASP's authentication guidance: a handful of guesses per account and address.
 */
export interface AbuseLimitsConfig {
  readonly login: {
    /** LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: failures in a row that lock an (account, client address) pair. */
    readonly maxFailuresPerAccountAddress: number;
    /** LOGIN_FAILURE_WINDOW: how long those failures are counted (from the first). */
    readonly failureWindowMs: number;
    /** LOGIN_LOCK_DURATION: the first lock; each further lock of the pair within a day doubles it. */
    readonly lockDurationMs: number;
    /** LOGIN_LOCK_MAX_DURATION: the longest lock. */
    readonly lockMaxDurationMs: number;
    /** LOGIN_MAX_FAILURES_PER_ACCOUNT: failures on one account (all addresses) before it is throttled for the rest of the window. */
    readonly maxFailuresPerAccount: number;
    /** LOGIN_ACCOUNT_WINDOW */
    readonly accountWindowMs: number;
    /** LOGIN_MAX_FAILURES_PER_ADDRESS: failures from one client address (all accounts) before it is throttled. */
    readonly maxFailuresPerAddress: number;
    /** LOGIN_ADDRESS_WINDOW */
    readonly addressWindowMs: number;
  };
  readonly mail: {
    /** MAIL_PER_ADDRESS_PER_HOUR: mails anonymous callers may ask for one mailbox. */
    readonly perAddressPerHour: number;
    /** MAIL_PER_CLIENT_PER_HOUR: mails (Register, reset, verification) one client address may ask for. */
    readonly perClientPerHour: number;
    /** MAIL_OWNER_PER_HOUR: mails asked for an account from its owner's addresses. */
    readonly perOwnerPerHour: number;
  };
  /**
   * Attempts at one user's second factor (codes, recovery codes, the password where it stands in
   * for a code), successes included, on top of the guessing budget the codes also draw on.
   */
  readonly secondFactor: {
    /** MFA_MAX_ATTEMPTS */
    readonly maxAttempts: number;
    /** MFA_ATTEMPT_WINDOW */
    readonly windowMs: number;
  };
  /** OWNER_ADDRESS_TTL: how long a successful sign-in makes its address one of the owner's. */
  readonly ownerAddressTtlMs: number;
}

/** One entry of TRUSTED_PROXIES. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

/** Where the client address of a call comes from. */
export interface ClientAddressConfig {
  /** TRUSTED_PROXIES: peers whose forwarding header is believed. */
  readonly trustedProxies: readonly Cidr[];
  /** CLIENT_ADDRESS_HEADER: the header those proxies write, `x-forwarded-for` or `forwarded` (RFC 7239); only that one is read. */
  readonly header: "x-forwarded-for" | "forwarded";
}

/** The abuse limits; windows of at least a second (the counters' resolution). */
export function readAbuseLimits(r: ConfigReader): AbuseLimitsConfig {
  const limits: AbuseLimitsConfig = {
    login: {
      maxFailuresPerAccountAddress: r.int("LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS", 5, 1, 1_000_000),
      failureWindowMs: r.duration("LOGIN_FAILURE_WINDOW", "1h", 1000),
      lockDurationMs: r.duration("LOGIN_LOCK_DURATION", "1m", 1000),
      lockMaxDurationMs: r.duration("LOGIN_LOCK_MAX_DURATION", "1h", 1000),
      maxFailuresPerAccount: r.int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 20, 1, 1_000_000),
      accountWindowMs: r.duration("LOGIN_ACCOUNT_WINDOW", "15m", 1000),
      maxFailuresPerAddress: r.int("LOGIN_MAX_FAILURES_PER_ADDRESS", 100, 1, 1_000_000),
      addressWindowMs: r.duration("LOGIN_ADDRESS_WINDOW", "1h", 1000),
    },
    mail: {
      perAddressPerHour: r.int("MAIL_PER_ADDRESS_PER_HOUR", 5, 1, 1000),
      perClientPerHour: r.int("MAIL_PER_CLIENT_PER_HOUR", 20, 1, 1_000_000),
      perOwnerPerHour: r.int("MAIL_OWNER_PER_HOUR", 5, 1, 1000),
    },
    // Ten in 15 minutes is far more than anyone typing codes needs; it holds someone who has the
    // password and guesses 6-digit codes to about 3 chances in 1,000 a day.
    secondFactor: { maxAttempts: r.int("MFA_MAX_ATTEMPTS", 10, 1, 1000), windowMs: r.duration("MFA_ATTEMPT_WINDOW", "15m", 1000) },
    ownerAddressTtlMs: r.duration("OWNER_ADDRESS_TTL", "30d", 1000),
  };
  if (limits.login.lockMaxDurationMs < limits.login.lockDurationMs) {
    r.problem("LOGIN_LOCK_MAX_DURATION: must not be shorter than LOGIN_LOCK_DURATION");
  }
  return limits;
}

/** TRUSTED_PROXIES (a comma-separated list of CIDRs or addresses, IPv4 and IPv6) and CLIENT_ADDRESS_HEADER. */
export function readClientAddress(r: ConfigReader): ClientAddressConfig {
  const text = r.str("TRUSTED_PROXIES", "");
  const trustedProxies: Cidr[] = [];
  for (const entry of text.split(",").map((e) => e.trim())) {
    if (entry === "") continue;
    const [address = "", prefixText, extra] = entry.split("/");
    const version = isIP(address);
    const max = version === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (version === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      r.problem(`TRUSTED_PROXIES: ${JSON.stringify(entry)} is not an IPv4 or IPv6 address or CIDR (such as 10.0.0.0/8 or fd00::/8)`);
      continue;
    }
    trustedProxies.push({ address, prefix, family: version === 6 ? "ipv6" : "ipv4" });
  }
  const header = r.str("CLIENT_ADDRESS_HEADER", "x-forwarded-for").toLowerCase();
  if (header !== "x-forwarded-for" && header !== "forwarded") {
    r.problem(`CLIENT_ADDRESS_HEADER=${header}: expected x-forwarded-for or forwarded`);
  }
  return { trustedProxies, header: header === "forwarded" ? "forwarded" : "x-forwarded-for" };
}
