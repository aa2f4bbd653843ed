/** The RateLimiter port on Redis: a fixed-window counter per key, one atomic script. */
import type { Redis } from "ioredis";
import type { RateLimiter } from "../../domain/ports.js";
import { redisCall } from "./client.js";

// The window starts with the first hit; later hits in it only count.
const hitScript = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

interface RedisWithHit extends Redis {
  authRateHit(key: string, windowMs: string): Promise<number>;
}

export function createRateLimiter(redis: Redis, prefix: string): RateLimiter {
  redis.defineCommand("authRateHit", { numberOfKeys: 1, lua: hitScript });
  const scripted = redis as RedisWithHit;
  return {
    hit: (key, limit, windowMs) =>
      redisCall(redis, async () => (await scripted.authRateHit(`${prefix}rl:${key}`, String(windowMs))) <= limit),
  };
}
