/** The Redis section of the configuration, and the ioredis options the client factory builds from it. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseRedisAddresses } from "../../src/config.js";
import { connectionPlan } from "../../src/infra/redis/client.js";

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
};

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

describe("the Redis topology", () => {
  it("is the embedded stand-in with no Redis variable, and a standalone server with REDIS_URL", () => {
    expect(loadConfig({}).redis.topology).toEqual({ kind: "embedded" });
    const config = loadConfig({ REDIS_URL: "redis://:pw@redis:6379/2" });
    expect(config.redis.topology).toEqual({ kind: "standalone", url: "redis://:pw@redis:6379/2" });
    expect(config.embedded.redis).toBe(false);
    expect(config.redis.tls).toBe(false);
    expect(loadConfig({ REDIS_URL: "rediss://redis:6380" }).redis.tls).toBe(true);
  });

  it("reads cluster nodes and sentinels as host:port lists, with the usual default ports", () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: "redis-0:7000, redis-1:7001,10.0.0.3" }).redis.topology).toEqual({
      kind: "cluster",
      nodes: [
        { host: "redis-0", port: 7000 },
        { host: "redis-1", port: 7001 },
        { host: "10.0.0.3", port: 6379 },
      ],
    });
    const sentinel = loadConfig({ REDIS_SENTINELS: "s0,s1:26380,[::1]:26381", REDIS_SENTINEL_MASTER: "authward" });
    expect(sentinel.redis.topology).toEqual({
      kind: "sentinel",
      masterName: "authward",
      sentinels: [
        { host: "s0", port: 26379 },
        { host: "s1", port: 26380 },
        { host: "::1", port: 26381 },
      ],
    });
    expect(sentinel.embedded.redis).toBe(false);
  });

  it.each(["", "a:b", "host:0", "host:65536", "a,,b", "redis://a:1", "a b:1", "[zz]:1"])("refuses the address list %j", (text) => {
    expect(parseRedisAddresses(text, 6379)).toBeUndefined();
  });

  it("refuses two topologies at once, a master name without sentinels, and sentinels without one", () => {
    expect(problemsOf({ REDIS_URL: "redis://r:6379", REDIS_CLUSTER_NODES: "c:7000" })).toEqual([
      "REDIS_URL and REDIS_CLUSTER_NODES: set only one (a standalone server, a Cluster, or a Sentinel group)",
    ]);
    expect(problemsOf({ REDIS_SENTINELS: "s:26379" })[0]).toMatch(/^REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS/);
    expect(problemsOf({ REDIS_URL: "redis://r:6379", REDIS_SENTINEL_MASTER: "m" })[0]).toMatch(
      /^REDIS_SENTINEL_MASTER: set, but REDIS_SENTINELS is not/,
    );
    expect(problemsOf({ REDIS_CLUSTER_NODES: "c:notaport" })[0]).toMatch(/^REDIS_CLUSTER_NODES: expected host:port pairs/);
  });

  it("runs several workers on any real topology, and one process only when embedded", () => {
    const shared = {
      DATABASE_URL: "postgres://db/auth",
      PUBLIC_URL: "https://auth.example.com",
      SMTP_URL: "smtp://mail:25",
      JWT_PRIVATE_KEY: "PEM",
    };
    expect(loadConfig({ ...shared, WORKERS: "4", REDIS_CLUSTER_NODES: "c:7000" }).workers).toBe(4);
    expect(problemsOf({ ...shared, WORKERS: "4" })[0]).toMatch(/^WORKERS=4: embedded mode/);
  });
});

describe("Redis credentials, TLS and replica acknowledgements", () => {
  it("takes passwords from NAME_FILE variables, as given", () => {
    const files: Record<string, string> = { "/run/redis-password": "  pass word \n", "/run/sentinel-password": "s3ntinel\n" };
    const config = loadConfig(
      {
        REDIS_SENTINELS: "s:26379",
        REDIS_SENTINEL_MASTER: "authward",
        REDIS_USERNAME: "authward",
        REDIS_PASSWORD_FILE: "/run/redis-password",
        REDIS_SENTINEL_PASSWORD_FILE: "/run/sentinel-password",
      },
      { readFile: (path) => files[path] ?? "" },
    );
    expect(config.redis).toMatchObject({ username: "authward", password: "  pass word ", sentinelPassword: "s3ntinel" });
  });

  it("refuses credentials given twice, or with no Redis to use them", () => {
    expect(problemsOf({ REDIS_URL: "redis://:pw@r:6379", REDIS_PASSWORD: "other" })[0]).toMatch(/^REDIS_URL and REDIS_PASSWORD/);
    expect(problemsOf({ REDIS_PASSWORD: "pw" })[0]).toMatch(/^REDIS_PASSWORD: set, but no Redis is configured/);
    expect(problemsOf({ REDIS_CLUSTER_NODES: "c:7000", REDIS_SENTINEL_PASSWORD: "pw" })[0]).toMatch(/^REDIS_SENTINEL_PASSWORD/);
  });

  it("turns TLS on by rediss:// or REDIS_TLS, with an optional CA, and refuses contradictions", () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: "c:7000", REDIS_TLS: "true", REDIS_TLS_CA: CA }).redis).toMatchObject({
      tls: true,
      tlsCa: CA,
    });
    expect(problemsOf({ REDIS_URL: "rediss://r:6380", REDIS_TLS: "false" })[0]).toMatch(/^REDIS_TLS=false: REDIS_URL is rediss/);
    expect(problemsOf({ REDIS_CLUSTER_NODES: "c:7000", REDIS_TLS_CA: CA })[0]).toMatch(/^REDIS_TLS_CA: set, but TLS is off/);
    expect(problemsOf({ REDIS_URL: "rediss://r:6380", REDIS_TLS_CA: "not a pem" })[0]).toMatch(/^REDIS_TLS_CA: expected PEM/);
  });

  it("waits for no replica by default, and for REDIS_WAIT_REPLICAS within REDIS_WAIT_TIMEOUT when asked", () => {
    expect(loadConfig({ REDIS_URL: "redis://r:6379" }).redis).toMatchObject({ waitReplicas: 0, waitTimeoutMs: 1000 });
    const config = loadConfig({ REDIS_SENTINELS: "s", REDIS_SENTINEL_MASTER: "m", REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_TIMEOUT: "250ms" });
    expect(config.redis).toMatchObject({ waitReplicas: 1, waitTimeoutMs: 250 });
    expect(problemsOf({ REDIS_WAIT_REPLICAS: "1" })[0]).toMatch(/^REDIS_WAIT_REPLICAS: the embedded stand-in has no replicas/);
    expect(problemsOf({ REDIS_URL: "redis://r:6379", REDIS_WAIT_REPLICAS: "-1" })[0]).toMatch(/^REDIS_WAIT_REPLICAS=-1/);
  });
});

describe("connectionPlan", () => {
  const redisOf = (env: Record<string, string>) => loadConfig(env).redis;

  it("opens a standalone server from its URL, failing fast while it is away", () => {
    const plan = connectionPlan(redisOf({ REDIS_URL: "redis://r:6379" }));
    expect(plan.kind).toBe("redis");
    if (plan.kind !== "redis") return;
    expect(plan.url).toBe("redis://r:6379");
    expect(plan.options).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2000, connectTimeout: 2000 });
    // A command in flight when the connection drops fails; it is never sent again on the next
    // connection (where a WAIT would count another connection's writes).
    expect(plan.options.autoResendUnfulfilledCommands).toBe(false);
    expect(plan.options.retryStrategy?.(100)).toBe(2000);
  });

  it("asks the sentinels for the master, with their own credentials and TLS", () => {
    const plan = connectionPlan(
      redisOf({
        REDIS_SENTINELS: "s0:26379,s1:26379",
        REDIS_SENTINEL_MASTER: "authward",
        REDIS_PASSWORD: "data-pw",
        REDIS_SENTINEL_PASSWORD: "sentinel-pw",
        REDIS_TLS: "true",
        REDIS_TLS_CA: CA,
      }),
    );
    expect(plan).toMatchObject({
      kind: "redis",
      url: undefined,
      options: {
        sentinels: [
          { host: "s0", port: 26379 },
          { host: "s1", port: 26379 },
        ],
        name: "authward",
        role: "master",
        password: "data-pw",
        sentinelPassword: "sentinel-pw",
        tls: { ca: CA },
        enableTLSForSentinelMode: true,
        failoverDetector: true,
      },
    });
  });

  it("opens a Cluster from its seed nodes, passing credentials and TLS to every node", () => {
    const plan = connectionPlan(
      redisOf({ REDIS_CLUSTER_NODES: "c0:7000,c1:7001", REDIS_USERNAME: "u", REDIS_PASSWORD: "pw", REDIS_TLS: "true" }),
    );
    expect(plan).toMatchObject({
      kind: "cluster",
      nodes: [
        { host: "c0", port: 7000 },
        { host: "c1", port: 7001 },
      ],
      options: { enableOfflineQueue: false, redisOptions: { username: "u", password: "pw", tls: {}, commandTimeout: 2000 } },
    });
  });

  it("gives a subscriber a connection that waits for Redis instead of failing", () => {
    const plan = connectionPlan(redisOf({ REDIS_CLUSTER_NODES: "c0:7000" }), "subscriber");
    expect(plan.options).toMatchObject({ enableOfflineQueue: true });
    expect(plan.kind === "cluster" && plan.options.redisOptions?.commandTimeout).toBeUndefined();
  });
});
