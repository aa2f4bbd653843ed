/**
 * The RateLimiter port on Redis (a fixed-window counter per key, one atomic script on one key, so
 * one slot of a Cluster), and the second-factor throttle on it. Counters are not replicated
 * synchronously: a failover may forget the last hits of a window, which lets a few more through,
 * never fewer.
 */
import { AuthError } from "../../domain/errors.js";
import type { RateLimiter, SecondFactorThrottle } from "../../domain/ports.js";
import { type RedisClient, redisCall } from "./client.js";

// The window starts with the first hit; later hits in it only count.
const hitScript = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

interface WithHit {
  authRateHit(key: string, windowMs: string): Promise<number>;
}

export function createRateLimiter(redis: RedisClient, prefix: string): RateLimiter {
  redis.defineCommand("authRateHit", { numberOfKeys: 1, lua: hitScript });
  const scripted = redis as RedisClient & WithHit;
  return {
    hit: (key, limit, windowMs) =>
      redisCall(redis, async () => (await scripted.authRateHit(`${prefix}rl:${key}`, String(windowMs))) <= limit),
  };
}

/**
 * Attempts at one user's second factor (codes, recovery codes, the password where it stands in for
 * a code), counted before each check and atomically, so that a burst of parallel guesses cannot
 * slip past the limit; successes count too. Ten in 15 minutes is far more than anyone typing
 * codes needs; it holds someone who has the password and guesses 6-digit codes (three valid at a
 * time with MFA_VALID_WINDOW=1) to about 3 chances in 1,000 a day, and every 5 wrong codes cost
 * them a new Login (the password, and its own limits). Per user only, not per user and address:
 * a guesser has many addresses. The abuse-limit work (issue 13) may replace this adapter with its
 * own policy behind the same port.
 */
export const SECOND_FACTOR_ATTEMPTS = 10;
export const SECOND_FACTOR_WINDOW_MS = 15 * 60_000;

export function createSecondFactorThrottle(limiter: RateLimiter): SecondFactorThrottle {
  return {
    async attempt(userId) {
      if (!(await limiter.hit(`mfa:u:${userId}`, SECOND_FACTOR_ATTEMPTS, SECOND_FACTOR_WINDOW_MS))) {
        throw new AuthError("RATE_LIMITED", { message: "Too many attempts at the second factor; retry later." });
      }
    },
  };
}
