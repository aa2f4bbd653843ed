/**
 * Opens Redis: a real server through ioredis when REDIS_URL is set, otherwise the in-process
 * ioredis-mock stand-in (embedded mode), which runs the same commands and the same Lua.
 */
import { Redis } from "ioredis";
import { AuthError } from "../../domain/errors.js";

export async function openRedis(url: string | undefined, onError: (error: Error) => void): Promise<Redis> {
  if (url === undefined) {
    const { default: RedisMock } = await import("ioredis-mock");
    return new RedisMock();
  }
  const redis = new Redis(url, {
    // Fail fast while disconnected (callers get UNAVAILABLE) instead of queueing requests that
    // would all fire, late, when Redis comes back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    // Keep reconnecting forever, at most every 2 s: the service recovers without a restart.
    retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
  });
  redis.on("error", onError);
  return redis;
}

/** Waits until Redis answers a PING, or `timeoutMs`; false when it is not reachable yet. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await redis.ping();
      return true;
    } catch {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Runs a Redis operation, reporting an unreachable server as UNAVAILABLE. A ReplyError is a
 * bug in our commands (or a script), not an outage, and passes through.
 */
export async function redisCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof Error && error.name !== "ReplyError") throw new AuthError("UNAVAILABLE", { cause: error });
    throw error;
  }
}

/** Readiness probe: one round trip. */
export async function pingRedis(redis: Redis): Promise<void> {
  await redisCall(() => redis.ping());
}
