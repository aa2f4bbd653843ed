/**
 * The abuse limits' Redis adapter, on a real Redis server and on the embedded stand-in
 * (ioredis-mock): the same rate-limiter-flexible counters and the same Lua must behave the same on
 * both. The pair lock reads the adapter's clock, so these tests move it instead of waiting; the
 * counters' windows are long enough not to end during a test. Also: every key one operation
 * touches lies in one Redis Cluster slot, and an unreachable Redis is UNAVAILABLE, never a pass.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import RedisMock from "ioredis-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AbuseLimitsConfig } from "../../src/config.js";
import type { Account, AllowedAttempt, SecretAttempt, ThrottledAttempt } from "../../src/domain/abuse-limits.js";
import { AuthError } from "../../src/domain/errors.js";
import { type AbuseLimits, accountTag, addressBucket, createAbuseLimits } from "../../src/infra/redis/abuse-limits.js";
import type { RedisClient } from "../../src/infra/redis/client.js";
import { sessionKeys } from "../../src/infra/redis/keys.js";
import { openTopology } from "../support/app.js";
import { clusterSlot } from "../support/cluster-slot.js";

const limits: AbuseLimitsConfig = {
  login: {
    maxFailuresPerAccountAddress: 3,
    failureWindowMs: 3_600_000,
    lockDurationMs: 60_000,
    lockMaxDurationMs: 200_000,
    maxFailuresPerAccount: 10,
    accountWindowMs: 3_600_000,
    maxFailuresPerAddress: 12,
    addressWindowMs: 3_600_000,
  },
  mail: { perAddressPerHour: 2, perClientPerHour: 5, perOwnerPerHour: 1 },
  secondFactor: { maxAttempts: 10, windowMs: 900_000 },
  ownerAddressTtlMs: 30 * 86_400_000,
};

function allowed(attempt: ThrottledAttempt): AllowedAttempt {
  if (!attempt.allowed) throw new Error(`expected the attempt to be allowed, got ${JSON.stringify(attempt.refusal)}`);
  return attempt;
}

describe.each([
  ["a standalone Redis server", () => openTopology("standalone")],
  ["a Redis Cluster", () => openTopology("cluster")],
  ["the embedded stand-in", async (): Promise<RedisClient> => new RedisMock()],
])("the abuse limits on %s", (_where, open) => {
  let redis: RedisClient;
  let prefix: string;
  let clock: number;
  let limiter: AbuseLimits;
  const refused: string[] = [];
  let address = 0;
  const freshAddress = () => `192.0.2.${++address}`;
  const user = (): Account => ({ kind: "user", userId: randomUUID() });
  const attempt = (account: Account, at: string): SecretAttempt => ({ account, address: at, kind: "password" });

  beforeAll(async () => {
    redis = await open();
    prefix = `al${randomBytes(4).toString("hex")}:`;
    clock = 1_800_000_000_000;
    limiter = createAbuseLimits(redis, prefix, limits, { now: () => clock, onRefused: (limit) => refused.push(limit) });
  });
  afterAll(() => redis.disconnect());

  /** N failures in a row; the lock the last one started. */
  async function failTimes(account: Account, at: string, times: number) {
    let lock = null;
    for (let i = 0; i < times; i++) lock = await allowed(await limiter.loginThrottle.begin(attempt(account, at))).failed();
    return lock;
  }

  it("locks a pair at its Nth failure, for a time that doubles with each lock of the day, and a success forgets it", async () => {
    const account = user();
    const at = freshAddress();
    // Her own address: the per-account throttle, which these failures reach, does not apply there.
    await allowed(await limiter.loginThrottle.begin(attempt(account, at))).succeeded(true);
    expect(await failTimes(account, at, 2)).toBeNull();
    expect(await failTimes(account, at, 1)).toEqual({ durationMs: 60_000, count: 1 });
    const locked = await limiter.loginThrottle.begin(attempt(account, at));
    expect(locked).toEqual({ allowed: false, refusal: { limit: "account_address", retryAfterMs: 60_000, first: false, locked: true } });
    // Another address of the same account is not locked.
    allowed(await limiter.loginThrottle.begin(attempt(account, freshAddress())));

    clock += 60_000;
    expect(await failTimes(account, at, 3)).toEqual({ durationMs: 120_000, count: 2 });
    clock += 120_000;
    expect(await failTimes(account, at, 3)).toEqual({ durationMs: 200_000, count: 3 });
    clock += 200_000;
    await allowed(await limiter.loginThrottle.begin(attempt(account, at))).succeeded(true);
    expect(await failTimes(account, at, 3)).toEqual({ durationMs: 60_000, count: 1 });
    clock += 60_000;
  });

  it("lets no more than N attempts of one pair be checked at once", async () => {
    const account = user();
    const at = freshAddress();
    const attempts = await Promise.all(Array.from({ length: 10 }, () => limiter.loginThrottle.begin(attempt(account, at))));
    expect(attempts.filter((a) => a.allowed)).toHaveLength(3);
    for (const refusedAttempt of attempts.filter((a) => !a.allowed)) {
      expect(refusedAttempt).toMatchObject({ refusal: { limit: "account_address", locked: false, retryAfterMs: 1000 } });
    }
    // The three fail: the first failure back locks the pair.
    const locks = await Promise.all(attempts.filter((a) => a.allowed).map((a) => (a as AllowedAttempt).failed()));
    expect(locks.filter((l) => l !== null)).toHaveLength(1);
  });

  it("counts an unknown identifier as an account of its own, with the same keys' shapes", async () => {
    const unknown: Account = { kind: "unknown", tenant: "default", identifier: `nobody.${randomUUID()}@example.com` };
    const at = freshAddress();
    expect(await failTimes(unknown, at, 3)).toEqual({ durationMs: 60_000, count: 1 });
    expect(await limiter.loginThrottle.begin(attempt(unknown, at))).toMatchObject({ allowed: false, refusal: { locked: true } });
    // No address or identifier is written into a key name: the account is a digest.
    const tag = accountTag(unknown);
    expect(tag).toMatch(/^i:[A-Za-z0-9_-]{22}$/);
    for (const key of [`${prefix}rl:a:${tag}`, `${prefix}rl:{${tag}}:aa`, `${prefix}rl:{${tag}}:aa:${at}`]) {
      expect(await redis.exists(key)).toBe(1);
    }
  });

  it("throttles an account past its failures from every address, except at its owner's addresses", async () => {
    const account = user();
    const home = freshAddress();
    await allowed(await limiter.loginThrottle.begin(attempt(account, home))).succeeded(true);
    for (let i = 0; i < 10; i++) await failTimes(account, freshAddress(), 1);
    const first = await limiter.loginThrottle.begin(attempt(account, freshAddress()));
    expect(first).toMatchObject({ allowed: false, refusal: { limit: "account", first: true, locked: false } });
    expect((first as { refusal: { retryAfterMs: number } }).refusal.retryAfterMs).toBeGreaterThan(3_500_000);
    expect(await limiter.loginThrottle.begin(attempt(account, freshAddress()))).toMatchObject({
      refusal: { limit: "account", first: false },
    });
    // At home: allowed, and a success there gives its count back.
    await allowed(await limiter.loginThrottle.begin(attempt(account, home))).succeeded(true);
    expect(refused).toContain("account");
  });

  it("forgets an owner's address once its sign-in is older than OWNER_ADDRESS_TTL", async () => {
    const account = user();
    const home = freshAddress();
    await allowed(await limiter.loginThrottle.begin(attempt(account, home))).succeeded(true);
    for (let i = 0; i < 10; i++) await failTimes(account, freshAddress(), 1);
    const start = clock;
    try {
      clock = start + limits.ownerAddressTtlMs - 1;
      allowed(await limiter.loginThrottle.begin(attempt(account, home)));
      clock = start + limits.ownerAddressTtlMs;
      expect(await limiter.loginThrottle.begin(attempt(account, home))).toMatchObject({ allowed: false, refusal: { limit: "account" } });
    } finally {
      clock = start;
    }
  });

  it("makes an address the owner's only when the secret completed a sign-in", async () => {
    const account = user();
    const [passwordOnly, signedIn] = [freshAddress(), freshAddress()];
    // A password whose second factor is still due, then a completed sign-in elsewhere.
    await allowed(await limiter.loginThrottle.begin(attempt(account, passwordOnly))).succeeded(false);
    await allowed(await limiter.loginThrottle.begin({ ...attempt(account, signedIn), kind: "second_factor" })).succeeded(true);
    for (let i = 0; i < 10; i++) await failTimes(account, freshAddress(), 1);
    expect(await limiter.loginThrottle.begin(attempt(account, passwordOnly))).toMatchObject({
      allowed: false,
      refusal: { limit: "account" },
    });
    allowed(await limiter.loginThrottle.begin(attempt(account, signedIn)));
  });

  it("throttles an address past its failures on every account, but not on accounts that signed in from it", async () => {
    const at = freshAddress();
    const regular = user();
    await allowed(await limiter.loginThrottle.begin(attempt(regular, at))).succeeded(true);
    for (let i = 0; i < 12; i++) await failTimes(user(), at, 1);
    expect(await limiter.loginThrottle.begin(attempt(user(), at))).toMatchObject({
      allowed: false,
      refusal: { limit: "address", first: true },
    });
    allowed(await limiter.loginThrottle.begin(attempt(regular, at)));
  });

  it("lifts the locks of an account at every address, or at one", async () => {
    const account = user();
    const [one, two] = [freshAddress(), freshAddress()];
    await failTimes(account, one, 3);
    await failTimes(account, two, 3);
    expect(await limiter.loginThrottle.lift({ account, address: one })).toBe(3);
    allowed(await limiter.loginThrottle.begin(attempt(account, one)));
    expect(await limiter.loginThrottle.begin(attempt(account, two))).toMatchObject({ allowed: false });
    expect(await limiter.loginThrottle.lift({ account })).toBeGreaterThanOrEqual(2);
    allowed(await limiter.loginThrottle.begin(attempt(account, two)));
    expect(await limiter.loginThrottle.lift({ account })).toBe(1);
  });

  it("keeps mail per client, per mailbox and per owner", async () => {
    const mailbox = `m.${randomUUID()}@example.com`;
    const account = user();
    const [client, owner] = [freshAddress(), freshAddress()];
    await allowed(await limiter.loginThrottle.begin(attempt(account, owner))).succeeded(true);
    expect(await limiter.mailThrottle.hit({ client, mailbox, account })).toBeNull();
    expect(await limiter.mailThrottle.hit({ client: freshAddress(), mailbox, account })).toBeNull();
    expect(await limiter.mailThrottle.hit({ client, mailbox, account })).toMatchObject({ limit: "mail_target", first: true });
    // The owner's own budget.
    expect(await limiter.mailThrottle.hit({ client: owner, mailbox, account })).toBeNull();
    expect(await limiter.mailThrottle.hit({ client: owner, mailbox, account })).toMatchObject({ limit: "mail_owner" });
    // One client, many mailboxes.
    const busy = freshAddress();
    for (let i = 0; i < 5; i++) expect(await limiter.mailThrottle.hit({ client: busy, mailbox: `${i}.${mailbox}` })).toBeNull();
    expect(await limiter.mailThrottle.hit({ client: busy, mailbox: `x.${mailbox}` })).toMatchObject({ limit: "mail_client" });
  });

  it("keeps every key of one operation in one Redis Cluster slot, the owner's addresses in the user's", async () => {
    const account = user();
    await failTimes(account, freshAddress(), 3);
    await failTimes(account, freshAddress(), 3);
    await allowed(await limiter.loginThrottle.begin(attempt(account, freshAddress()))).succeeded(true);
    const tag = accountTag(account);
    // The pairs, their set and the owner's addresses: the keys the scripts and the multi-key DEL of
    // `lift` touch together (on a Cluster, a cross-slot operation would have failed above).
    const keys = [
      `${prefix}rl:{${tag}}:aa`,
      `${prefix}{${tag}}:oa`,
      ...(await redis.smembers(`${prefix}rl:{${tag}}:aa`)).map((b) => `${prefix}rl:{${tag}}:aa:${b}`),
    ];
    expect(keys).toHaveLength(4);
    for (const key of keys) expect(await redis.exists(key)).toBe(1);
    expect(new Set(keys.map(clusterSlot)).size).toBe(1);
    expect(await limiter.loginThrottle.lift({ account })).toBeGreaterThanOrEqual(2);
    if (account.kind === "user") expect(clusterSlot(`${prefix}{${tag}}:oa`)).toBe(clusterSlot(sessionKeys(prefix).state(account.userId)));
  });
});

describe("the abuse limits without Redis", () => {
  it("answer UNAVAILABLE, never a pass", async () => {
    const redis = new Redis({ port: 1, enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    redis.on("error", () => {});
    const unavailable: number[] = [];
    const { loginThrottle, mailThrottle } = createAbuseLimits(redis, "down:", limits, { onUnavailable: () => unavailable.push(1) });
    const account: Account = { kind: "user", userId: randomUUID() };
    for (const operation of [
      () => loginThrottle.begin({ account, address: "192.0.2.1", kind: "password" }),
      () => mailThrottle.hit({ client: "192.0.2.1", mailbox: "a@example.com" }),
    ]) {
      const error = await operation().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AuthError);
      expect((error as AuthError).reason).toBe("UNAVAILABLE");
    }
    expect(unavailable.length).toBeGreaterThan(0);
    redis.disconnect();
  });
});

describe("address buckets", () => {
  it.each([
    ["203.0.113.9", "203.0.113.9"],
    ["::ffff:203.0.113.9", "203.0.113.9"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::9", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002:ffff::1", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["64:ff9b::192.0.2.1", "64:ff9b:0:0::/64"],
    [undefined, "unknown"],
    ["not an address", "unknown"],
  ])("counts %s as %s", (address, bucket) => {
    expect(addressBucket(address)).toBe(bucket);
  });
});
