/**
 * The Redis section of the configuration: which topology (a standalone server, a Sentinel group or
 * a Cluster, or the embedded stand-in), how to authenticate and encrypt, and how many replicas
 * must hold a session write before it is acknowledged. Handed whole to infra/redis/client.ts.
 */

import type { ConfigReader } from "./reader.js";

/** A node or a sentinel: `host:port`. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Where Redis is: exactly one of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS, or none. */
export type RedisTopology =
  /** No Redis variable: the in-process stand-in (one process only). */
  | { readonly kind: "embedded" }
  /** REDIS_URL: one server (`redis://` or `rediss://`), credentials and database in the URL. */
  | { readonly kind: "standalone"; readonly url: string }
  /** REDIS_CLUSTER_NODES: some nodes of a Redis Cluster; the others are discovered. */
  | { readonly kind: "cluster"; readonly nodes: readonly RedisAddress[] }
  /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER: sentinels, and the name of the group they watch. */
  | { readonly kind: "sentinel"; readonly sentinels: readonly RedisAddress[]; readonly masterName: string };

export interface RedisConfig {
  readonly topology: RedisTopology;
  /** REDIS_USERNAME: the ACL user of the data nodes (with REDIS_URL, instead of the URL's). */
  readonly username: string | undefined;
  /** REDIS_PASSWORD (usually REDIS_PASSWORD_FILE): the data nodes' password. */
  readonly password: string | undefined;
  /** REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD: the sentinels' own, when they require one. */
  readonly sentinelUsername: string | undefined;
  readonly sentinelPassword: string | undefined;
  /** REDIS_TLS: TLS to every node and sentinel; implied by a `rediss://` REDIS_URL. */
  readonly tls: boolean;
  /** REDIS_TLS_CA (usually REDIS_TLS_CA_FILE): PEM of the CA that signed the servers' certificates; default the system's. */
  readonly tlsCa: string | undefined;
  /**
   * REDIS_WAIT_REPLICAS: replicas that must have a session write (create, rotate, revoke, end
   * access) before the call succeeds (Redis WAIT); 0 acknowledges once the master has it.
   */
  readonly waitReplicas: number;
  /** REDIS_WAIT_TIMEOUT: how long a write waits for them before the call answers UNAVAILABLE. */
  readonly waitTimeoutMs: number;
}

/** Parses `host:port,host:port` (`[v6]:port`; the port defaults to `defaultPort`); undefined when malformed. */
export function parseRedisAddresses(text: string, defaultPort: number): RedisAddress[] | undefined {
  const addresses: RedisAddress[] = [];
  for (const part of text.split(",").map((p) => p.trim())) {
    if (part === "") return undefined;
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(part);
    if (!match) return undefined;
    const port = match[3] === undefined ? defaultPort : Number(match[3]);
    if (!(port >= 1 && port <= 65535)) return undefined;
    addresses.push({ host: match[1] ?? match[2] ?? "", port });
  }
  return addresses.length > 0 ? addresses : undefined;
}

/** The Redis section. The key prefix (REDIS_KEY_PREFIX) is read with the stores, beside it. */
export function readRedis(r: ConfigReader): RedisConfig {
  const url = r.url("REDIS_URL", ["redis:", "rediss:"]);
  const topology = readTopology(r, url);
  const waitReplicas = r.int("REDIS_WAIT_REPLICAS", 0, 0, 16);
  if (waitReplicas > 0 && topology.kind === "embedded") r.problem("REDIS_WAIT_REPLICAS: the embedded stand-in has no replicas");
  return {
    topology,
    ...readAccess(r, topology, url),
    waitReplicas,
    waitTimeoutMs: r.duration("REDIS_WAIT_TIMEOUT", "1s", 1),
  };
}

/** Which topology: exactly one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, or none. */
function readTopology(r: ConfigReader, url: string | undefined): RedisTopology {
  const clusterText = r.raw("REDIS_CLUSTER_NODES");
  const sentinelText = r.raw("REDIS_SENTINELS");
  const masterName = r.raw("REDIS_SENTINEL_MASTER");
  const given = [
    ["REDIS_URL", url],
    ["REDIS_CLUSTER_NODES", clusterText],
    ["REDIS_SENTINELS", sentinelText],
  ].filter(([, value]) => value !== undefined);
  if (given.length > 1) {
    r.problem(`${given.map(([name]) => name).join(" and ")}: set only one (a standalone server, a Cluster, or a Sentinel group)`);
  }
  if (masterName !== undefined && sentinelText === undefined) r.problem("REDIS_SENTINEL_MASTER: set, but REDIS_SENTINELS is not");
  if (url !== undefined) return { kind: "standalone", url };
  if (clusterText !== undefined) {
    const nodes = parseRedisAddresses(clusterText, 6379);
    if (nodes === undefined) {
      r.problem("REDIS_CLUSTER_NODES: expected host:port pairs separated by commas, such as redis-0:6379,redis-1:6379");
    }
    return { kind: "cluster", nodes: nodes ?? [] };
  }
  if (sentinelText === undefined) return { kind: "embedded" };
  const sentinels = parseRedisAddresses(sentinelText, 26379);
  if (sentinels === undefined) {
    r.problem("REDIS_SENTINELS: expected host:port pairs separated by commas, such as sentinel-0:26379,sentinel-1:26379");
  }
  if (masterName === undefined) r.problem("REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS (the name the sentinels monitor)");
  return { kind: "sentinel", sentinels: sentinels ?? [], masterName: masterName ?? "" };
}

type RedisAccess = Pick<RedisConfig, "username" | "password" | "sentinelUsername" | "sentinelPassword" | "tls" | "tlsCa">;

/** Credentials and TLS, refusing those that would be ignored or given twice. */
function readAccess(r: ConfigReader, topology: RedisTopology, url: string | undefined): RedisAccess {
  // Passwords are taken as given (REDIS_PASSWORD_FILE drops one trailing newline).
  const access = {
    username: r.raw("REDIS_USERNAME"),
    password: r.verbatim("REDIS_PASSWORD"),
    sentinelUsername: r.raw("REDIS_SENTINEL_USERNAME"),
    sentinelPassword: r.verbatim("REDIS_SENTINEL_PASSWORD"),
    tls: r.bool("REDIS_TLS", url?.startsWith("rediss:") ?? false),
    tlsCa: r.raw("REDIS_TLS_CA"),
  };
  const { username, password, tls, tlsCa } = access;
  if (topology.kind === "embedded") {
    for (const [name, value] of Object.entries({ REDIS_USERNAME: username, REDIS_PASSWORD: password, REDIS_TLS_CA: tlsCa })) {
      if (value !== undefined) r.problem(`${name}: set, but no Redis is configured (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS)`);
    }
  }
  if (topology.kind !== "sentinel" && (access.sentinelUsername !== undefined || access.sentinelPassword !== undefined)) {
    r.problem("REDIS_SENTINEL_PASSWORD (or _USERNAME): set, but REDIS_SENTINELS is not");
  }
  if (url !== undefined && URL.canParse(url)) {
    const parsed = new URL(url);
    if (parsed.password !== "" && password !== undefined) {
      r.problem("REDIS_URL and REDIS_PASSWORD: the URL holds a password already; give it once");
    }
    if (parsed.username !== "" && username !== undefined)
      r.problem("REDIS_URL and REDIS_USERNAME: the URL names a user already; give it once");
    if (parsed.protocol === "rediss:" && !tls) r.problem("REDIS_TLS=false: REDIS_URL is rediss://, which means TLS");
  }
  if (tlsCa !== undefined && !tls) r.problem("REDIS_TLS_CA: set, but TLS is off (set REDIS_TLS=true, or use a rediss:// REDIS_URL)");
  if (tlsCa !== undefined && !tlsCa.includes("-----BEGIN CERTIFICATE-----")) r.problem("REDIS_TLS_CA: expected PEM certificates");
  return access;
}
