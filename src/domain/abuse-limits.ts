/**
 * Abuse limits as the flows use them: one guessing budget that every check of a secret draws on
 * (the password of every sign-in route, ChangePassword's current password, every proof of the
 * second factor: mfa/second-factor.ts's checkProof), and one mail budget for Register, RequestPasswordReset and ResendVerification.
 * The ports (LoginThrottle, MailThrottle) count, in Redis, shared by every instance; the numbers
 * are their adapter's configuration. This module decides when to ask them and what to answer.
 *
 * Guessing (OWASP Authentication and Credential Stuffing cheat sheets), three counters:
 * - per (account, client address): a handful of consecutive failures locks that pair, for a time
 *   that doubles with each lock; the owner at another address is not affected, and a success
 *   clears the pair. This is the lock (ACCOUNT_LOCKED).
 * - per account: many addresses guessing one account are throttled (RATE_LIMITED) for the rest
 *   of a short window, except from the addresses the owner signed in from recently, so that a
 *   distributed attack slows guessing without locking the owner out.
 * - per client address: one address guessing across many accounts is throttled (RATE_LIMITED),
 *   again except for accounts that signed in from that address recently.
 * Every attempt is counted before the secret is checked (so a thousand concurrent guesses cannot
 * all pass a check that reads zero), and a success gives its count back. A refused attempt costs
 * no bcrypt. An identifier that names nobody is an account of its own, counted exactly like a
 * user, with the same Redis operations: nothing in the answers, their timing or the metrics tells
 * an existing account from an unknown one.
 *
 * Mail: per client address (nobody mails a hundred third parties, and Register, which mails the
 * address it is given, counts there before any hashing), and per target mailbox (nobody mails one
 * person a hundred times; a new account's verification mail counts there as it goes). A request
 * from an address that signed in to the account recently draws on the owner's own budget instead
 * of the mailbox's anonymous one, so an attacker who exhausts the anonymous budget cannot lock the
 * owner out of her own reset.
 *
 * Every operation is UNAVAILABLE when Redis cannot be reached: a call that checks a secret or asks
 * for mail never runs unlimited.
 *
 * The second factor: `checkProof` calls `checkSecret` with `kind: "second_factor"` for each code
 * (the password where it stands in for one), on the user's account, `completesSignIn` when it
 * signs in; a code draws on the same budget as the password (the same pair lock, the same
 * per-account throttle). Login's password step passes `completesSignIn: false` and reports the
 * sign-in (`LoginThrottle.signedIn`) only once a session started without a second step, so that
 * knowing the password alone never makes an address one of the owner's.
 */
import { AuthError } from "./errors.js";
import type { RequestContext, SecurityEvent } from "./model.js";
import type { SecurityEvents } from "./ports.js";

/**
 * Whose secret is tried. An identifier that names nobody is an account too (by tenant and lookup
 * key), so that guessing it is limited exactly as guessing a user is.
 */
export type Account =
  | { readonly kind: "user"; readonly userId: string }
  | { readonly kind: "unknown"; readonly tenant: string; readonly identifier: string };

/** The account that `loginKey` names in `tenant`: the user when there is one. */
export function accountOf(tenant: string, loginKey: string, userId: string | undefined): Account {
  return userId === undefined ? { kind: "unknown", tenant, identifier: loginKey } : { kind: "user", userId };
}

/** What kind of secret is checked; both draw on one budget. */
export type SecretKind = "password" | "second_factor";

export interface SecretAttempt {
  readonly account: Account;
  /** The client address, as the transport resolved it (`RequestContext.ip`). */
  readonly address: string | undefined;
  readonly kind: SecretKind;
}

/** Which limit refused a call (the `limit` label of the metrics, and `metadata.limit` of the error). */
export type LimitName =
  /** The (account, client address) lock. */
  | "account_address"
  /** Failures on one account from every address. */
  | "account"
  /** Failures from one client address on every account. */
  | "address"
  /** Mail asked for by one client address. */
  | "mail_client"
  /** Mail asked for one mailbox by anonymous callers. */
  | "mail_target"
  /** Mail asked for an account from addresses its owner signed in from. */
  | "mail_owner"
  /** Attempts at one user's second factor. */
  | "second_factor";

export interface Refusal {
  readonly limit: LimitName;
  /** How long until the call can succeed: the real remaining time of the counter or lock. */
  readonly retryAfterMs: number;
  /** This is the first refusal since the limit was reached (the audit records one event per episode, not one per call). */
  readonly first: boolean;
  /**
   * The (account, address) pair is locked (ACCOUNT_LOCKED). A refusal of that pair that is not a
   * lock means as many attempts as allowed are still being checked (RATE_LIMITED, retry in a
   * second): a burst of concurrent guesses gets no more than the handful.
   */
  readonly locked: boolean;
}

/** A lock that a failure started. */
export interface Lock {
  readonly durationMs: number;
  /** How many times this (account, address) pair was locked in the last day, this one included. */
  readonly count: number;
}

/** An attempt that was counted and may check its secret: report how it went. */
export interface AllowedAttempt {
  readonly allowed: true;
  /** The secret was wrong; returns the lock this failure started, if any. */
  failed(): Promise<Lock | null>;
  /**
   * The secret was right: the pair's failures are cleared and the attempt's count is given back.
   * `completesSignIn`: the caller is now signed in (no second factor pending), so the address
   * becomes one of the owner's for the owner exemptions above.
   */
  succeeded(completesSignIn: boolean): Promise<void>;
}

export type ThrottledAttempt = AllowedAttempt | { readonly allowed: false; readonly refusal: Refusal };

/** The guessing budget. Every method is UNAVAILABLE when the store is unreachable: never unlimited. */
export interface LoginThrottle {
  /** Counts an attempt to check a secret, before any hashing; refused when over a limit. */
  begin(attempt: SecretAttempt): Promise<ThrottledAttempt>;
  /**
   * A session started for the account from `address` (Login without a second step): the address
   * becomes one of the owner's for the exemptions. A secret checked with `completesSignIn` does
   * the same itself.
   */
  signedIn(account: Account, address: string | undefined): Promise<void>;
  /**
   * Lifts the locks and throttles on an account (at one address, or at all of them), or on an
   * address (every account); returns how many counters were cleared.
   */
  lift(target: { readonly account?: Account; readonly address?: string }): Promise<number>;
}

export interface MailRequest {
  /** The client address asking. */
  readonly client: string | undefined;
  /**
   * The lookup key of the address the mail would go to (the mailbox, whatever the tenant); absent
   * for Register, whose mail is counted by `sent` once the account exists.
   */
  readonly mailbox?: string;
  /** The account the mail concerns, for the owner's budget. */
  readonly account?: Account;
}

/** The mail budget; UNAVAILABLE when the store is unreachable. */
export interface MailThrottle {
  /** Counts one request for a mail; a refusal when over a budget. */
  hit(request: MailRequest): Promise<Refusal | null>;
  /** Counts a mail that goes out anyway (a new account's verification) in the mailbox's anonymous budget. */
  sent(mailbox: string): Promise<void>;
}

/** What `checkSecret` and `limitMail` use. */
export interface LimitDeps {
  readonly loginThrottle: LoginThrottle;
  readonly mailThrottle: MailThrottle;
  readonly events: SecurityEvents;
}

const messages: Record<LimitName | "in_flight", string> = {
  in_flight: "Too many sign-ins for this account from your address at once",
  account_address: "Too many failed sign-ins for this account from your address",
  account: "Too many failed sign-ins for this account",
  address: "Too many failed sign-ins from your address",
  mail_client: "Too many mails were asked for from your address",
  mail_target: "Too many mails were asked for this address",
  mail_owner: "Too many mails were asked for this account",
  second_factor: "Too many attempts at the second factor",
};

/** The answer to a refused call: ACCOUNT_LOCKED for the pair's lock, RATE_LIMITED otherwise, with the real wait. */
export function refusalError(refusal: Refusal): AuthError {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  const message = refusal.locked
    ? messages.account_address
    : refusal.limit === "account_address"
      ? messages.in_flight
      : messages[refusal.limit];
  return new AuthError(refusal.locked ? "ACCOUNT_LOCKED" : "RATE_LIMITED", {
    message: `${message}; retry in ${seconds} s.`,
    metadata: { limit: refusal.limit },
    retryAfterMs: Math.max(0, Math.round(refusal.retryAfterMs)),
  });
}

function auditFields(ctx: RequestContext, tenant: string, account: Account) {
  return {
    tenant,
    ...(account.kind === "user" ? { userId: account.userId } : {}),
    ip: ctx.ip,
    userAgent: ctx.userAgent,
  } satisfies Partial<SecurityEvent>;
}

/**
 * Checks a secret under the guessing limits: counted first, refused (ACCOUNT_LOCKED or
 * RATE_LIMITED, with the wait) without calling `verify` when over a limit; a wrong secret may
 * start a lock, a right one clears the pair. Returns what `verify` said. `verify` must cost the
 * same for an unknown account as for a user (verify against a dummy hash and return false).
 */
export async function checkSecret(
  deps: Pick<LimitDeps, "loginThrottle" | "events">,
  ctx: RequestContext,
  attempt: SecretAttempt & { readonly tenant: string; readonly completesSignIn: boolean },
  verify: () => Promise<boolean>,
): Promise<boolean> {
  const counted = await deps.loginThrottle.begin(attempt);
  if (!counted.allowed) {
    const { refusal } = counted;
    if (refusal.first && refusal.limit !== "account_address") {
      await deps.events.record({
        type: "login_throttled",
        ...auditFields(ctx, attempt.tenant, attempt.account),
        detail: { limit: refusal.limit, kind: attempt.kind, retryAfterMs: Math.round(refusal.retryAfterMs) },
      });
    }
    throw refusalError(refusal);
  }
  const correct = await verify();
  if (correct) {
    await counted.succeeded(attempt.completesSignIn);
    return true;
  }
  const lock = await counted.failed();
  if (lock !== null) {
    await deps.events.record({
      type: "account_locked",
      ...auditFields(ctx, attempt.tenant, attempt.account),
      detail: { kind: attempt.kind, lockMs: lock.durationMs, locksToday: lock.count },
    });
  }
  return false;
}

/**
 * Counts a request for a mail to `mailbox` (a lookup key); RATE_LIMITED with the wait when over the
 * client's, the mailbox's or the owner's budget. The key is the address asked for, known or not,
 * and an unknown account costs the same Redis operations as a user: the limit reveals nothing.
 */
export async function limitMail(deps: Pick<LimitDeps, "mailThrottle">, ctx: RequestContext, request: Omit<MailRequest, "client">) {
  const refusal = await deps.mailThrottle.hit({ ...request, client: ctx.ip });
  if (refusal !== null) throw refusalError(refusal);
}

/** Who lifts a lock, for the audit trail. */
export interface LiftInput {
  readonly account?: Account;
  /** The tenant of the account (or the default tenant), for the audit row. */
  readonly tenant: string;
  readonly address?: string;
  /** An operator at the command line (their name), or an administrator (their user id, where they called from). */
  readonly actor: {
    readonly kind: "operator" | "admin";
    readonly id?: string;
    readonly ip?: string | undefined;
    readonly userAgent?: string | undefined;
  };
}

/**
 * An administrator lifts the guessing locks and throttles on an account (at one address, or at
 * every address), or on an address; audited as `login_unlocked`. Returns how many counters were
 * cleared (0: nothing was locked).
 */
export async function liftLoginLimits(deps: Pick<LimitDeps, "loginThrottle" | "events">, input: LiftInput): Promise<number> {
  if (input.account === undefined && input.address === undefined) {
    throw new AuthError("INVALID_REQUEST", { message: "name an account, an address, or both" });
  }
  const cleared = await deps.loginThrottle.lift({
    ...(input.account === undefined ? {} : { account: input.account }),
    ...(input.address === undefined ? {} : { address: input.address }),
  });
  const { actor } = input;
  await deps.events.record({
    type: "login_unlocked",
    tenant: input.tenant,
    ...(input.account?.kind === "user" ? { userId: input.account.userId } : {}),
    ...(actor.kind === "admin" && actor.id !== undefined ? { actorId: actor.id } : {}),
    ...(actor.ip === undefined ? {} : { ip: actor.ip }),
    ...(actor.userAgent === undefined ? {} : { userAgent: actor.userAgent }),
    detail: {
      by: input.actor.kind,
      ...(input.actor.id === undefined ? {} : { actorId: input.actor.id }),
      ...(input.address === undefined ? {} : { address: input.address }),
      cleared,
    },
  });
  return cleared;
}
