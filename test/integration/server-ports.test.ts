/**
 * The suite's own servers start although a port chosen for them is taken before they bind it
 * (vitest runs files in parallel, and other suites share the machine): each helper is handed a
 * port chooser that offers a port another listener holds, and must still start, on fresh ports,
 * the process it launched answering there; when every port offered is taken it fails saying so,
 * with the server's own log lines.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisCli, startRedisCluster, startRedisSentinel } from "../support/redis-topologies.js";
import { freePort, startPostgres, startRedis } from "../support/servers.js";
import { createTestSmtp } from "../support/smtp.js";

/** A chooser that offers `taken` at the given calls (1-based) and free ports otherwise; it counts its calls. */
function offering(taken: number, atCalls: readonly number[]) {
  let calls = 0;
  const choose = async () => {
    calls += 1;
    return atCalls.includes(calls) ? taken : freePort();
  };
  return Object.assign(choose, { calls: () => calls });
}

describe("the test servers, when a port chosen for them is taken before they bind it", () => {
  // Another process's listener: it accepts connections and never answers, as a foreign service may.
  let holder: Server;
  let taken = 0;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    holder = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    taken = (holder.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => holder.close(resolve));
  });

  it("starts the standalone Redis on another port, the redis-server it launched answering there", async () => {
    const choose = offering(taken, [1]);
    const redis = await startRedis({ choosePort: choose });
    try {
      expect(redis.port).not.toBe(taken);
      expect(choose.calls()).toBe(2);
      expect(await redisCli({ host: "127.0.0.1", port: redis.port }, "ping")).toBe("PONG");
    } finally {
      await redis.stop();
    }
  });

  it("fails with the redis-server's own log lines when every port offered is taken", async () => {
    const choose = offering(taken, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const started = startRedis({ choosePort: choose });
    await expect(started).rejects.toThrow(/Address already in use[\s\S]*tried 5 times/);
    expect(choose.calls()).toBe(5);
  });

  it("starts PostgreSQL on another port", async () => {
    const choose = offering(taken, [1]);
    const postgres = await startPostgres({ choosePort: choose });
    try {
      expect(postgres.port).not.toBe(taken);
      expect(choose.calls()).toBe(2);
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      try {
        expect((await client.query<{ one: number }>("select 1 as one")).rows).toEqual([{ one: 1 }]);
      } finally {
        await client.end();
      }
    } finally {
      await postgres.destroy();
    }
  });

  it("starts the test SMTP server on another port", async () => {
    const choose = offering(taken, [1]);
    const smtp = await createTestSmtp({ choosePort: choose });
    try {
      expect(smtp.port).not.toBe(taken);
      expect(smtp.url).toBe(`smtp://127.0.0.1:${smtp.port}`);
      expect(choose.calls()).toBe(2);
      const greeting = await new Promise<string>((resolve, reject) => {
        const socket = connect(smtp.port, "127.0.0.1");
        socket.once("data", (chunk) => {
          socket.destroy();
          resolve(chunk.toString());
        });
        socket.once("error", reject);
      });
      expect(greeting).toMatch(/^220 /);
    } finally {
      await smtp.stop();
    }
  });

  it("starts a healthy Redis Cluster when a node's port and another node's bus port are taken", { timeout: 120_000 }, async () => {
    // Each node's ports are chosen in turn, its port then its bus port: call 1 is the first node's
    // port, call 4 the second node's bus port.
    const choose = offering(taken, [1, 4]);
    const cluster = await startRedisCluster({ choosePort: choose });
    try {
      expect(cluster.nodes.map((n) => n.port)).not.toContain(taken);
      expect(choose.calls()).toBe(12 + 4);
      // `127.0.0.1:port@busport` of every node, as the cluster knows them.
      const ports = (await redisCli(cluster.nodes[0]!, "cluster", "nodes")).split("\n").map((line) =>
        /:(\d+)@(\d+)/
          .exec(line.split(" ")[1] ?? "")
          ?.slice(1, 3)
          .map(Number),
      );
      expect(ports).toHaveLength(6);
      for (const pair of ports) expect(pair).toEqual([expect.any(Number), expect.any(Number)]);
      expect(ports.flat()).not.toContain(taken);
      const { masters, replicas } = await cluster.roles();
      expect([masters.length, replicas.length]).toEqual([3, 3]);
    } finally {
      await cluster.stop();
    }
  });

  it("starts a healthy Sentinel group when the master's port and a sentinel's port are taken", { timeout: 120_000 }, async () => {
    // Call 1 is the master's port, call 2 the replica's, calls 3 to 5 the sentinels'.
    const choose = offering(taken, [1, 3]);
    const group = await startRedisSentinel({ choosePort: choose });
    try {
      expect([...group.data, ...group.sentinels].map((n) => n.port)).not.toContain(taken);
      expect(choose.calls()).toBe(5 + 2);
      expect(await group.master()).toEqual(group.data[0]);
      const replication = await redisCli(group.data[1]!, "info", "replication");
      expect(replication).toMatch(new RegExp(`master_port:${group.data[0]!.port}\\r?\\n`));
      expect(replication).toMatch(/master_link_status:up/);
    } finally {
      await group.stop();
    }
  });
});
