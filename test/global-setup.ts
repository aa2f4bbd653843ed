/**
 * Vitest global setup: installs PostgreSQL and Redis from Debian's packages when missing, starts
 * one ephemeral server of each for the whole run, plus a Redis Cluster (three masters, three
 * replicas) and a Redis Sentinel group (a master, a replica, three sentinels), all at once, and
 * stops them at the end. Each test file makes its own database and Redis key prefix on them, so
 * files run in parallel without sharing state. (A test that fails a Redis over starts its own.)
 *
 * At the end it also checks every log line the suite's servers wrote: each must parse as JSON and
 * none may contain a password or token the tests used (the tests record them as they go).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startRedisCluster, startRedisSentinel } from "./support/redis-topologies.js";
import { startPostgres, startRedis } from "./support/servers.js";

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
    redisUrl: string;
    /** REDIS_CLUSTER_NODES of the suite's Redis Cluster. */
    redisClusterNodes: string;
    /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER of the suite's Sentinel group. */
    redisSentinels: string;
    redisSentinelMaster: string;
    logDir: string;
  }
}

const root = join(import.meta.dirname, "..");
const logDir = join(root, "test", ".logs");

export default async function setup(project: TestProject) {
  // The suite tests the Node.js the service runs on: the one package.json pins (its `node`
  // devDependency, first on PATH for npm scripts and npx), not whatever node the machine has.
  const pinned = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { devDependencies: Record<string, string> })
    .devDependencies.node;
  if (process.version !== `v${pinned}`) {
    throw new Error(`the suite runs on Node.js ${process.version}, not the pinned v${pinned}: run it with npm test or npx vitest`);
  }
  execFileSync("bash", [join(root, "scripts", "install-test-deps.sh")], { stdio: "inherit" });
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const started = await Promise.allSettled([startPostgres(), startRedis(), startRedisCluster(), startRedisSentinel()] as const);
  const [postgresStart, redisStart, clusterStart, sentinelStart] = started;
  const stopAll = () =>
    Promise.all([
      redisStart.status === "fulfilled" ? redisStart.value.stop() : undefined,
      clusterStart.status === "fulfilled" ? clusterStart.value.stop() : undefined,
      sentinelStart.status === "fulfilled" ? sentinelStart.value.stop() : undefined,
      postgresStart.status === "fulfilled" ? postgresStart.value.destroy() : undefined,
    ]);
  if (
    postgresStart.status === "rejected" ||
    redisStart.status === "rejected" ||
    clusterStart.status === "rejected" ||
    sentinelStart.status === "rejected"
  ) {
    await stopAll();
    const failure = started.find((s) => s.status === "rejected");
    throw failure?.status === "rejected" ? failure.reason : new Error("a test server did not start");
  }
  const [postgres, redis, cluster, sentinel] = [postgresStart.value, redisStart.value, clusterStart.value, sentinelStart.value];
  project.provide("postgresUrl", postgres.url);
  project.provide("redisUrl", redis.url);
  project.provide("redisClusterNodes", cluster.seeds);
  project.provide("redisSentinels", sentinel.seeds);
  project.provide("redisSentinelMaster", sentinel.masterName);
  project.provide("logDir", logDir);

  return async () => {
    await stopAll();
    try {
      checkLogs();
    } catch (error) {
      // Vitest reports a teardown error but still exits 0; the exit code is what CI reads.
      process.exitCode = 1;
      throw error;
    }
  };
}

/** Fails the run if a log line is not JSON or holds a secret a test used. */
function checkLogs(): void {
  const files = readdirSync(logDir);
  const secrets = new Set<string>();
  for (const file of files.filter((f) => f.endsWith(".secrets"))) {
    for (const line of readFileSync(join(logDir, file), "utf8").split("\n")) if (line.length >= 8) secrets.add(line);
  }
  const codes = new Set<string>();
  for (const file of files.filter((f) => f.endsWith(".codes"))) {
    for (const line of readFileSync(join(logDir, file), "utf8").split("\n")) if (/^[0-9]{6}$/.test(line)) codes.add(line);
  }
  const problems: string[] = [];
  let lines = 0;
  for (const file of files.filter((f) => f.endsWith(".log"))) {
    for (const line of readFileSync(join(logDir, file), "utf8").split("\n")) {
      if (line === "") continue;
      lines += 1;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        problems.push(`${file}: not JSON: ${line.slice(0, 120)}`);
      }
      if (codes.size > 0 && codeIn(parsed, codes)) problems.push(`${file}: a TOTP code used by the tests appears in a log line`);
      for (const secret of secrets) {
        if (line.includes(secret)) problems.push(`${file}: a secret used by the tests appears in a log line`);
      }
    }
  }
  // Tests that used secrets always make the service log something; none means the capture broke.
  if (secrets.size > 0 && lines === 0) problems.push(`the log check saw ${secrets.size} secrets but no log lines: the capture is broken`);
  if (problems.length > 0) throw new Error(`log check failed:\n${problems.slice(0, 20).join("\n")}`);
  process.stdout.write(`log check: ${lines} log lines, ${secrets.size} secrets, ${codes.size} TOTP codes, none leaked\n`);
}

/**
 * Whether a string anywhere in a parsed log line holds one of `codes` as a number of its own: six
 * digits not part of a longer run of letters, digits, `_` or `-` (so a code inside a random id,
 * a timestamp or a port number is no match, and "code 123456" or "123456" is).
 */
function codeIn(value: unknown, codes: ReadonlySet<string>): boolean {
  if (typeof value === "string") {
    for (const match of value.matchAll(/(?<![A-Za-z0-9_-])[0-9]{6}(?![A-Za-z0-9_-])/g)) if (codes.has(match[0])) return true;
    return false;
  }
  if (typeof value === "object" && value !== null) return Object.values(value).some((child) => codeIn(child, codes));
  return false;
}
