/**
 * The LoginThrottle and MailThrottle ports on Redis, shared by every instance and worker (see
 * domain/abuse-limits.ts for the policy). The fixed-window counters are rate-limiter-flexible's
 * RateLimiterRedis (failures per account, failures per client address, mails per client, per
 * mailbox and per owner); the (account, address) lock is a small Lua script of ours
 * (abuse-scripts.ts), because it needs what those counters cannot give: a lock that grows with
 * each lock of the day, separate from the count of attempts, and attempts in flight told apart
 * from failures. No insurance limiter: when Redis cannot be reached every call that checks a
 * secret or asks for mail is UNAVAILABLE, never unlimited. Key names: abuse-keys.ts.
 */
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { AbuseLimitsConfig } from "../../config.js";
import type {
  AllowedAttempt,
  LimitName,
  LoginThrottle,
  MailRequest,
  MailThrottle,
  Refusal,
  SecretAttempt,
  ThrottledAttempt,
} from "../../domain/abuse-limits.js";
import { refusalError } from "../../domain/abuse-limits.js";
import { AuthError } from "../../domain/errors.js";
import type { SecondFactorThrottle } from "../../domain/mfa/ports.js";
import { accountTag, addressBucket, type LimitKeys, limitKeys, mailboxTag } from "./abuse-keys.js";
import { defineLimitScripts, type LimitScripts } from "./abuse-scripts.js";
import { isRedisUnavailable, type RedisClient } from "./client.js";

export { accountTag, addressBucket } from "./abuse-keys.js";

export interface AbuseLimitsHooks {
  /** A call refused by `limit` (the metrics). */
  readonly onRefused?: (limit: LimitName) => void;
  /** An operation that found Redis unreachable. */
  readonly onUnavailable?: () => void;
  /** Milliseconds since the epoch (the owner addresses' ages and the lock's times). */
  readonly now?: () => number;
}

export interface AbuseLimits {
  readonly loginThrottle: LoginThrottle;
  readonly mailThrottle: MailThrottle;
  /** Attempts at one user's second factor (MFA's own limit, beside the guessing budget). */
  readonly secondFactorThrottle: SecondFactorThrottle;
}

/** What the operations below share: the client, its scripts and counters, the limits. */
interface Limiter {
  readonly redis: RedisClient;
  readonly scripts: LimitScripts;
  readonly keys: LimitKeys;
  readonly limits: AbuseLimitsConfig;
  readonly now: () => number;
  readonly counters: Readonly<Record<"account" | "address" | "mailClient" | "mailbox" | "mailOwner" | "secondFactor", RateLimiterRedis>>;
  /** Runs Redis operations: an unreachable Redis is UNAVAILABLE, never a pass. */
  store<T>(operation: () => Promise<T>): Promise<T>;
  refuse(limit: LimitName, retryAfterMs: number, first: boolean, locked?: boolean): Refusal;
}

const HOUR = 3_600_000;
const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createAbuseLimits(
  redis: RedisClient,
  prefix: string,
  limits: AbuseLimitsConfig,
  hooks: AbuseLimitsHooks = {},
): AbuseLimits {
  const counter = (name: string, points: number, windowMs: number) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}rl:${name}`, points, duration: seconds(windowMs) });
  const { login, mail } = limits;
  const limiter: Limiter = {
    redis,
    scripts: defineLimitScripts(redis),
    keys: limitKeys(prefix),
    limits,
    now: hooks.now ?? Date.now,
    counters: {
      account: counter("a", login.maxFailuresPerAccount, login.accountWindowMs),
      address: counter("ip", login.maxFailuresPerAddress, login.addressWindowMs),
      mailClient: counter("mc", mail.perClientPerHour, HOUR),
      mailbox: counter("mt", mail.perAddressPerHour, HOUR),
      mailOwner: counter("mo", mail.perOwnerPerHour, HOUR),
      secondFactor: counter("sf", limits.secondFactor.maxAttempts, limits.secondFactor.windowMs),
    },
    async store(operation) {
      try {
        return await operation();
      } catch (error) {
        if (isRedisUnavailable(error) || (error instanceof Error && /Redis connection is not ready/.test(error.message))) {
          hooks.onUnavailable?.();
          throw new AuthError("UNAVAILABLE", { cause: error });
        }
        throw error;
      }
    },
    refuse(limit, retryAfterMs, first, locked = false) {
      hooks.onRefused?.(limit);
      return { limit, retryAfterMs: Math.max(0, retryAfterMs), first, locked };
    },
  };
  return {
    loginThrottle: {
      begin: (attempt) => begin(limiter, attempt),
      signedIn: (account, address) => rememberOwner(limiter, accountTag(account), addressBucket(address)),
      lift: (target) => lift(limiter, target),
    },
    secondFactorThrottle: { attempt: (userId) => attemptSecondFactor(limiter, userId) },
    mailThrottle: {
      hit: (request) => hitMail(limiter, request),
      sent: async (mailbox) => void (await limiter.store(() => consume(limiter.counters.mailbox, mailboxTag(mailbox)))),
    },
  };
}

/** A counter's state after a consume: rate-limiter-flexible rejects with the same object when over. */
async function consume(counter: RateLimiterRedis, key: string): Promise<RateLimiterRes> {
  try {
    return await counter.consume(key);
  } catch (error) {
    if (error instanceof RateLimiterRes) return error;
    throw error;
  }
}

/** Gives back one point (rate-limiter-flexible's reward would recreate an expired counter below zero: a credit). */
const giveBack = (limiter: Limiter, counter: RateLimiterRedis, key: string) => limiter.scripts.giveBack(counter.getKey(key));

/** Whether the owner of the account signed in from this bucket within OWNER_ADDRESS_TTL. */
async function isOwnerAddress(limiter: Limiter, tag: string, bucket: string): Promise<boolean> {
  return isRecentOwner(limiter, await limiter.redis.hget(limiter.keys.owner(tag), bucket), limiter.now());
}

/** Whether a sign-in from a bucket at `at` (ms as stored; null or '' when none) makes it one of the owner's at `now`. */
function isRecentOwner(limiter: Limiter, at: string | null, now: number): boolean {
  return at !== null && at !== "" && now - Number(at) < limiter.limits.ownerAddressTtlMs;
}

/**
 * Counts an attempt: the pair first (with the owner's addresses in the same script, and the
 * address's failures, in one round trip), then the account. The owner's own addresses are never throttled per account or per
 * address; an attempt refused by one counter is given back to those that had counted it.
 */
async function begin(limiter: Limiter, attempt: SecretAttempt): Promise<ThrottledAttempt> {
  const { login } = limiter.limits;
  const { counters, store, refuse } = limiter;
  const tag = accountTag(attempt.account);
  const bucket = addressBucket(attempt.address);
  const pairKey = limiter.keys.pair(tag, bucket);
  const now = limiter.now();
  const [[pairState, pairValue, ownerAt], perAddress] = await store(() =>
    Promise.all([
      limiter.scripts.begin(pairKey, limiter.keys.owner(tag), bucket, now, login.failureWindowMs, login.maxFailuresPerAccountAddress),
      consume(counters.address, bucket),
    ]),
  );
  // Locked (audited when the lock started), or as many attempts as allowed still being checked.
  if (pairState !== 0) {
    await store(() => giveBack(limiter, counters.address, bucket));
    return { allowed: false, refusal: refuse("account_address", pairValue, false, pairState === 1) };
  }
  const owner = isRecentOwner(limiter, ownerAt ?? null, now);
  const cancelled = async (limit: LimitName, res: RateLimiterRes, max: number): Promise<ThrottledAttempt> => {
    await store(() => limiter.scripts.cancel(pairKey));
    return { allowed: false, refusal: refuse(limit, res.msBeforeNext, res.consumedPoints === max + 1) };
  };
  if (!owner && perAddress.consumedPoints > login.maxFailuresPerAddress)
    return cancelled("address", perAddress, login.maxFailuresPerAddress);
  const perAccount = await store(() => consume(counters.account, tag));
  if (!owner && perAccount.consumedPoints > login.maxFailuresPerAccount) {
    await store(() => giveBack(limiter, counters.address, bucket));
    return cancelled("account", perAccount, login.maxFailuresPerAccount);
  }
  return allowedAttempt(limiter, tag, bucket);
}

/** An attempt that was counted: a failure may lock the pair; a success clears it and gives the counts back. */
function allowedAttempt(limiter: Limiter, tag: string, bucket: string): AllowedAttempt {
  const { login, ownerAddressTtlMs } = limiter.limits;
  const { counters, keys, scripts, store } = limiter;
  const pairKey = keys.pair(tag, bucket);
  return {
    allowed: true,
    async failed() {
      const lock = { max: login.maxFailuresPerAccountAddress, baseMs: login.lockDurationMs, capMs: login.lockMaxDurationMs };
      const [lockMs, count] = await store(() => scripts.failed(pairKey, keys.pairIndex(tag), limiter.now(), lock, bucket));
      return lockMs > 0 ? { durationMs: lockMs, count } : null;
    },
    async succeeded(completesSignIn) {
      await store(() =>
        Promise.all([
          limiter.redis.del(pairKey),
          giveBack(limiter, counters.account, tag),
          giveBack(limiter, counters.address, bucket),
          completesSignIn ? scripts.remember(keys.owner(tag), bucket, limiter.now(), ownerAddressTtlMs) : Promise.resolve(0),
        ]),
      );
    },
  };
}

/** Remembers a bucket as one of the owner's addresses (a completed sign-in). */
async function rememberOwner(limiter: Limiter, tag: string, bucket: string): Promise<void> {
  await limiter.store(() => limiter.scripts.remember(limiter.keys.owner(tag), bucket, limiter.now(), limiter.limits.ownerAddressTtlMs));
}

/**
 * Counts an attempt at a user's second factor before it is checked, atomically (a burst of
 * parallel guesses cannot slip past), successes too; RATE_LIMITED with the wait once over. Per
 * user only, not per user and address: a guesser has many addresses (and the guessing budget,
 * which codes draw on too, counts per address).
 */
async function attemptSecondFactor(limiter: Limiter, userId: string): Promise<void> {
  const { maxAttempts } = limiter.limits.secondFactor;
  const res = await limiter.store(() => consume(limiter.counters.secondFactor, userId));
  if (res.consumedPoints > maxAttempts) {
    throw refusalError(limiter.refuse("second_factor", res.msBeforeNext, res.consumedPoints === maxAttempts + 1));
  }
}

/** Lifts an account's locks (at one address, or every address in its set) and counters, or an address's. */
async function lift(limiter: Limiter, { account, address }: Parameters<LoginThrottle["lift"]>[0]): Promise<number> {
  const { redis, keys, counters } = limiter;
  return limiter.store(async () => {
    let cleared = 0;
    if (account !== undefined) {
      const tag = accountTag(account);
      if (address !== undefined) {
        cleared += await redis.del(keys.pair(tag, addressBucket(address)));
        await redis.srem(keys.pairIndex(tag), addressBucket(address));
      } else {
        // The pairs share the account's hash tag: one multi-key DEL, one slot.
        const buckets = await redis.smembers(keys.pairIndex(tag));
        if (buckets.length > 0) cleared += await redis.del(...buckets.map((b) => keys.pair(tag, b)));
        await redis.del(keys.pairIndex(tag));
      }
      cleared += await clear(counters.account, tag);
    }
    if (address !== undefined) cleared += await clear(counters.address, addressBucket(address));
    return cleared;
  });
}

/** Deletes a counter; 1 when it held a failure, 0 when it was absent or given back to zero. */
async function clear(counter: RateLimiterRedis, key: string): Promise<number> {
  const held = ((await counter.get(key))?.consumedPoints ?? 0) > 0;
  await counter.delete(key);
  return held ? 1 : 0;
}

/** Counts a request for mail: per client, then the owner's budget from her addresses, else the mailbox's. */
async function hitMail(limiter: Limiter, request: MailRequest): Promise<Refusal | null> {
  const { mail } = limiter.limits;
  const { counters, store, refuse } = limiter;
  const bucket = addressBucket(request.client);
  const tag = request.account === undefined ? undefined : accountTag(request.account);
  const [perClient, owner] = await store(() =>
    Promise.all([consume(counters.mailClient, bucket), tag === undefined ? false : isOwnerAddress(limiter, tag, bucket)]),
  );
  if (perClient.consumedPoints > mail.perClientPerHour) {
    return refuse("mail_client", perClient.msBeforeNext, perClient.consumedPoints === mail.perClientPerHour + 1);
  }
  // The owner's addresses have a budget of their own, which no anonymous caller can exhaust.
  if (owner && tag !== undefined) {
    const perOwner = await store(() => consume(counters.mailOwner, tag));
    if (perOwner.consumedPoints <= mail.perOwnerPerHour) return null;
    return refuse("mail_owner", perOwner.msBeforeNext, perOwner.consumedPoints === mail.perOwnerPerHour + 1);
  }
  const { mailbox } = request;
  if (mailbox === undefined) return null;
  const perMailbox = await store(() => consume(counters.mailbox, mailboxTag(mailbox)));
  if (perMailbox.consumedPoints <= mail.perAddressPerHour) return null;
  return refuse("mail_target", perMailbox.msBeforeNext, perMailbox.consumedPoints === mail.perAddressPerHour + 1);
}
