/**
 * Real Redis Cluster and Sentinel deployments for the tests, from Debian's `redis-server`: a
 * Cluster of three masters with one replica each, and a Sentinel group of one master, one replica
 * and three sentinels. Ephemeral (a temporary folder, free ports, no persistence) and stopped by
 * the pids we started, nothing else. A process whose port was taken before it bound it is started
 * again on fresh ports (see `onFreshPorts`).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { choosePorts, onFreshPorts, type PortChooser, type RedisProcess, spawnRedis, waitForRedis } from "./servers.js";

const run = promisify(execFile);

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** `host:port,host:port`, as REDIS_CLUSTER_NODES and REDIS_SENTINELS take them. */
export const nodeList = (nodes: readonly RedisNode[]) => nodes.map((n) => `${n.host}:${n.port}`).join(",");

/** Runs redis-cli against one node and returns its trimmed output. */
export async function redisCli(node: RedisNode, ...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["-h", node.host, "-p", String(node.port), ...args], { timeout: 20_000 });
  return stdout.trim();
}

/** `INFO`-style `field:value` lines as a map. */
function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The processes of one deployment: started by us, stopped by their pids. */
class Processes {
  readonly #children = new Map<number, RedisProcess["child"]>();

  /** Spawns a redis-server for `port` and waits until it answers there (see `waitForRedis`). */
  async start(port: number, args: string[]): Promise<RedisProcess> {
    const server = spawnRedis(args);
    if (server.child.pid !== undefined) this.#children.set(server.child.pid, server.child);
    await waitForRedis(server, port);
    return server;
  }

  /** SIGTERM to one process we started, waiting for its exit. */
  async kill(pid: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.#children.get(pid);
    this.#children.delete(pid);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#children.keys()].map((pid) => this.kill(pid)));
  }
}

/** Common options: loopback only, no persistence, quiet, data in the deployment's folder. */
const common = (dir: string) => [
  "--bind",
  "127.0.0.1",
  "--save",
  "",
  "--appendonly",
  "no",
  "--loglevel",
  "warning",
  "--dir",
  dir,
  // A replica syncs at once (the default waits 5 s for more replicas to share one transfer).
  "--repl-diskless-sync-delay",
  "0",
];

export interface RedisCluster {
  /** Every node, masters first as created (a failover swaps roles: ask `roles()`). */
  readonly nodes: readonly RedisNode[];
  /** For REDIS_CLUSTER_NODES: two seed nodes, as a deployment would give. */
  readonly seeds: string;
  /** The current master and replica of each shard, read from the cluster. */
  roles(): Promise<{ masters: RedisNode[]; replicas: { node: RedisNode; masterPort: number }[] }>;
  /** The master serving a hash slot now. */
  masterOf(slot: number): Promise<RedisNode>;
  /** Waits until every node reports cluster_state:ok and every replica's link is up. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** SIGKILLs one node, as a crash would (its replica takes over after cluster-node-timeout). */
  crash(node: RedisNode): Promise<void>;
  /**
   * Starts a crashed node again, on its ports and configuration: it rejoins (as a replica). It
   * cannot move: a port taken meanwhile fails it, with the node's log lines.
   */
  restart(node: RedisNode): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Three masters and three replicas. `nodeTimeoutMs` is cluster-node-timeout (how long before a
 * silent node counts as failing); manual failovers do not wait for it.
 */
export async function startRedisCluster(options: { nodeTimeoutMs?: number; choosePort?: PortChooser } = {}): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "auth-rc-"));
  const processes = new Processes();
  try {
    // A node's arguments and pid, by its port: a restart after a crash reuses both ports.
    const argsOf = new Map<number, string[]>();
    const pidOf = new Map<number, number>();
    const launch = async (port: number) => {
      const server = await processes.start(port, argsOf.get(port) ?? []);
      pidOf.set(port, server.child.pid ?? -1);
    };
    const launchNode = async ([port, busPort]: readonly number[]): Promise<RedisNode> => {
      const file = join(dir, `nodes-${port}.conf`);
      // A node that failed on this port before may have left its configuration: start blank.
      rmSync(file, { force: true });
      argsOf.set(port!, [
        "--port",
        String(port),
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        String(busPort),
        "--cluster-config-file",
        file,
        "--cluster-node-timeout",
        String(options.nodeTimeoutMs ?? 2000),
        ...common(dir),
      ]);
      await launch(port!);
      return { host: "127.0.0.1", port: port! };
    };
    const starting: Promise<RedisNode>[] = [];
    for (let i = 0; i < 6; i++) {
      // The bus port is chosen too: port + 10000 (its default) may be taken or past 65535. Each
      // node's ports are chosen in turn (its port, then its bus port); the nodes start together.
      const ports = await choosePorts(2, options.choosePort);
      starting.push(onFreshPorts(ports, launchNode, options));
    }
    // Every node is waited for, so that none is left starting when one fails.
    const settled = await Promise.allSettled(starting);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const nodes = settled.map((s) => (s as PromiseFulfilledResult<RedisNode>).value);
    // Masters are the first three given; each later node replicates one of them.
    await run(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `${n.host}:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"],
      {
        timeout: 60_000,
      },
    );
    const cluster: RedisCluster = {
      nodes,
      seeds: nodeList(nodes.slice(0, 2)),
      async roles() {
        const masters: RedisNode[] = [];
        const replicas: { node: RedisNode; masterPort: number }[] = [];
        const lines = (await redisCli(nodes[0]!, "cluster", "nodes")).split("\n");
        const byId = new Map(lines.map((line) => [line.split(" ")[0], line]));
        for (const line of lines) {
          const [, address, flags, masterId] = line.split(" ");
          const port = Number(/:(\d+)@/.exec(address ?? "")?.[1]);
          if (flags?.includes("fail")) continue;
          if (flags?.includes("master")) masters.push({ host: "127.0.0.1", port });
          else if (flags?.includes("slave")) {
            const master = byId.get(masterId);
            replicas.push({ node: { host: "127.0.0.1", port }, masterPort: Number(/:(\d+)@/.exec(master?.split(" ")[1] ?? "")?.[1]) });
          }
        }
        return { masters, replicas };
      },
      async masterOf(slot) {
        for (const line of (await redisCli(nodes[0]!, "cluster", "nodes")).split("\n")) {
          const fields = line.split(" ");
          if (!fields[2]?.includes("master") || fields[2].includes("fail")) continue;
          for (const range of fields.slice(8)) {
            const [from, to] = range.split("-").map(Number);
            if (from !== undefined && slot >= from && slot <= (to ?? from)) {
              return { host: "127.0.0.1", port: Number(/:(\d+)@/.exec(fields[1] ?? "")?.[1]) };
            }
          }
        }
        throw new Error(`no master serves slot ${slot}`);
      },
      async waitHealthy(timeoutMs = 30_000) {
        await waitUntil(
          "a healthy cluster",
          async () => {
            for (const node of nodes) {
              if (infoFields(await redisCli(node, "cluster", "info")).get("cluster_state") !== "ok") return false;
              const replication = infoFields(await redisCli(node, "info", "replication"));
              if (replication.get("role") === "slave" && replication.get("master_link_status") !== "up") return false;
            }
            return (await cluster.roles()).replicas.length === 3;
          },
          timeoutMs,
        );
      },
      async crash(node) {
        await processes.kill(pidOf.get(node.port) ?? -1, "SIGKILL");
      },
      async restart(node) {
        await launch(node.port);
      },
      async stop() {
        await processes.stopAll();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await cluster.waitHealthy();
    return cluster;
  } catch (error) {
    await processes.stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface RedisSentinel {
  readonly masterName: string;
  readonly sentinels: readonly RedisNode[];
  /** For REDIS_SENTINELS. */
  readonly seeds: string;
  /** The data nodes (the first starts as master). */
  readonly data: readonly RedisNode[];
  /** The master the sentinels name now. */
  master(): Promise<RedisNode>;
  /** Waits until the sentinels agree on a master that has a replica whose link is up. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** One master, one replica (or `replicas`), three sentinels (quorum 2). */
export async function startRedisSentinel(
  options: { masterName?: string; replicas?: number; choosePort?: PortChooser } = {},
): Promise<RedisSentinel> {
  const masterName = options.masterName ?? "authward";
  const replicaCount = options.replicas ?? 1;
  const dir = mkdtempSync(join(tmpdir(), "auth-rs-"));
  const processes = new Processes();
  try {
    const startNode = async (args: (port: number) => string[]) => {
      const launchOn = async ([port]: readonly number[]): Promise<RedisNode> => {
        await processes.start(port!, args(port!));
        return { host: "127.0.0.1", port: port! };
      };
      return onFreshPorts(await choosePorts(1, options.choosePort), launchOn, options);
    };
    // The master first: the replicas and the sentinels are given its port, then start together.
    const master = await startNode((port) => ["--port", String(port), ...common(dir)]);
    const replicas: Promise<RedisNode>[] = [];
    for (let i = 0; i < replicaCount; i++) {
      replicas.push(startNode((port) => ["--port", String(port), "--replicaof", master.host, String(master.port), ...common(dir)]));
    }
    const sentinelStarts: Promise<RedisNode>[] = [];
    for (let i = 0; i < 3; i++) {
      sentinelStarts.push(
        startNode((port) => {
          // Sentinel rewrites its configuration file as it learns the group: one file each.
          const file = join(dir, `sentinel-${port}.conf`);
          writeFileSync(
            file,
            [
              `port ${port}`,
              "bind 127.0.0.1",
              `dir ${dir}`,
              "loglevel warning",
              `sentinel monitor ${masterName} ${master.host} ${master.port} 2`,
              `sentinel down-after-milliseconds ${masterName} 2000`,
              `sentinel failover-timeout ${masterName} 10000`,
              `sentinel parallel-syncs ${masterName} 1`,
              "",
            ].join("\n"),
          );
          return [file, "--sentinel"];
        }),
      );
    }
    // Every process is waited for, so that none is left starting when one fails.
    const settled = await Promise.allSettled([...replicas, ...sentinelStarts]);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const started = settled.map((s) => (s as PromiseFulfilledResult<RedisNode>).value);
    const data = [master, ...started.slice(0, replicaCount)];
    const sentinels = started.slice(replicaCount);
    const group: RedisSentinel = {
      masterName,
      sentinels,
      seeds: nodeList(sentinels),
      data,
      async master() {
        const [host, port] = (await redisCli(sentinels[0]!, "sentinel", "get-master-addr-by-name", masterName)).split("\n");
        return { host: host ?? "127.0.0.1", port: Number(port) };
      },
      async waitHealthy(timeoutMs = 30_000) {
        await waitUntil(
          "a healthy sentinel group",
          async () => {
            const current = await group.master();
            for (const sentinel of sentinels) {
              const [, port] = (await redisCli(sentinel, "sentinel", "get-master-addr-by-name", masterName)).split("\n");
              if (Number(port) !== current.port) return false;
              // Each sentinel must know every replica (a failover needs one) and not think one down.
              const known = (await redisCli(sentinel, "sentinel", "replicas", masterName)).match(/\nflags\nslave\n/g) ?? [];
              if (known.length < replicaCount) return false;
            }
            const replication = infoFields(await redisCli(current, "info", "replication"));
            const online = [...replication.entries()].filter(([name, value]) => name.startsWith("slave") && /state=online/.test(value));
            return replication.get("role") === "master" && online.length >= replicaCount;
          },
          timeoutMs,
        );
      },
      async stop() {
        await processes.stopAll();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await group.waitHealthy();
    return group;
  } catch (error) {
    await processes.stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Asks for a failover until it happens: `ask` sends the request (a replica's CLUSTER FAILOVER, a
 * sentinel's SENTINEL FAILOVER), `happened` tells whether the master moved. A manual failover is
 * dropped silently when it cannot finish in time (Redis aborts a CLUSTER FAILOVER after 5 s if the
 * replica has not caught up, which a loaded machine can cause), so it is asked again, up to
 * `attempts` times, each given `waitMs`.
 */
export async function failOver(
  ask: () => Promise<string>,
  happened: () => Promise<boolean>,
  { attempts = 4, waitMs = 20_000 } = {},
): Promise<void> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const answer = await ask();
    // A sentinel already failing over answers INPROG: keep waiting for that one.
    if (answer !== "OK" && !answer.includes("INPROG")) throw new Error(`the failover request answered ${answer}`);
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (await happened()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`no failover after ${attempts} requests`);
}
