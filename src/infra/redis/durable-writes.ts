/**
 * Session writes that wait for replicas (REDIS_WAIT_REPLICAS): each write script is followed by
 * `WAIT replicas timeout` in one pipeline, on a connection of its own, and succeeds only once that
 * many replicas hold it, so a failover cannot lose a session that was acknowledged (or bring back
 * one that was revoked). A pipeline goes to one node (on a Cluster, the node of its keys), so the
 * WAIT counts the replicas of the node that took the write. A WAIT holds up its connection until
 * the replicas answer, which is why session checks do not share it.
 */
import type { ChainableCommander } from "ioredis";
import type { RedisClient } from "./client.js";

/** Session writes wait for replicas (Redis WAIT) before they are acknowledged. */
export interface SessionDurability {
  /** A connection for writes only (a WAIT holds up its connection until the replicas answer). */
  readonly writer: RedisClient;
  /** Replicas that must hold each write. */
  readonly replicas: number;
  /** How long a write waits for them before the call fails as UNAVAILABLE. */
  readonly timeoutMs: number;
}

/** A reply error, as Redis would word it, for a write that too few replicas acknowledged in time. */
export class ReplicasShortError extends Error {
  constructor(acknowledged: number, wanted: number, timeoutMs: number) {
    super(`WAITREPLICAS ${acknowledged} of ${wanted} replica(s) acknowledged the write within ${timeoutMs} ms`);
    this.name = "ReplicasShortError";
  }
}

/** Runs one write: a command defined by `defineCommand` (or EVAL) and its arguments. */
export type Write = (command: string, ...args: (string | number)[]) => Promise<unknown>;

type Commands = Record<string, ((...args: (string | number)[]) => unknown) | undefined>;

/** Writes on `redis` as they are, or, with `durability`, on its writer followed by a WAIT. */
export function sessionWrites(redis: RedisClient, durability: SessionDurability | undefined): Write {
  if (durability === undefined) {
    return async (command, ...args) => {
      const run = (redis as unknown as Commands)[command];
      if (run === undefined) throw new Error(`no Redis command ${command}`);
      return run.apply(redis, args);
    };
  }
  return async (command, ...args) => {
    const pipeline = durability.writer.pipeline();
    const queue = (pipeline as unknown as Commands)[command];
    if (queue === undefined) throw new Error(`no Redis command ${command}`);
    (queue.apply(pipeline, args) as ChainableCommander).wait(durability.replicas, durability.timeoutMs);
    const results = (await pipeline.exec()) ?? [];
    const [writeError, reply] = results[0] ?? [new Error("the write's pipeline had no reply")];
    if (writeError) throw writeError;
    const [waitError, acknowledged] = results[1] ?? [new Error("the WAIT had no reply")];
    if (waitError) throw waitError;
    if (Number(acknowledged) < durability.replicas)
      throw new ReplicasShortError(Number(acknowledged), durability.replicas, durability.timeoutMs);
    return reply;
  };
}
