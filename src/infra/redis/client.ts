/**
 * Opens Redis: a real server through ioredis when REDIS_URL is set, otherwise the in-process
 * ioredis-mock stand-in (embedded mode), which runs the same commands and the same Lua.
 */
import { Redis } from "ioredis";
import { AuthError } from "../../domain/errors.js";
import { hasNetworkErrorCode } from "../network-errors.js";

const unavailableHooks = new WeakMap<Redis, () => void>();

/**
 * Opens Redis. `onError` hears connection errors (each failed reconnection attempt);
 * `onUnavailable` each operation that found Redis unreachable.
 */
export async function openRedis(
  url: string | undefined,
  onError: (error: Error) => void,
  onUnavailable: () => void = () => {},
): Promise<Redis> {
  if (url === undefined) {
    const { default: RedisMock } = await import("ioredis-mock");
    const mock = new RedisMock();
    unavailableHooks.set(mock, onUnavailable);
    return mock;
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
  unavailableHooks.set(redis, onUnavailable);
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

/** Whether an ioredis error means Redis cannot be reached now, rather than a bad command. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "MaxRetriesPerRequestError" || hasNetworkErrorCode(error)) return true;
  // LOADING: a restarting Redis that has not finished reading its data set yet.
  return /^LOADING |Connection is closed|Stream isn't writeable|Command timed out|connect ECONNREFUSED/.test(error.message);
}

/**
 * Runs a Redis operation, reporting an unreachable server as UNAVAILABLE. Anything else (a script
 * error, a wrong command) is a bug, not an outage, and passes through as INTERNAL.
 */
export async function redisCall<T>(redis: Redis, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isRedisUnavailable(error)) {
      unavailableHooks.get(redis)?.();
      throw new AuthError("UNAVAILABLE", { cause: error });
    }
    throw error;
  }
}

/** Readiness probe: one round trip. */
export async function pingRedis(redis: Redis): Promise<void> {
  await redisCall(redis, () => redis.ping());
}
