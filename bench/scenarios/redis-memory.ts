/** Scenario 7 (part): Redis's used_memory before and after 100,000 sessions (10 per user), per session. */
import { Redis } from "ioredis";
import { hashSecret, newSecret, newSessionId } from "../../src/domain/refresh-token.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";

export async function redisBytesPerSession(url: string): Promise<number> {
  const redis = new Redis(url);
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1]);
  const store = createSessionStore(redis, "benchmem:", 30 * 86_400_000);
  const before = await usedMemory();
  const now = Date.now();
  const total = 100_000;
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < total) {
        const n = next++;
        await store.create({
          id: newSessionId(),
          userId: `00000000-0000-4000-8000-${String(Math.floor(n / 10)).padStart(12, "0")}`,
          tenant: "default",
          secretHash: hashSecret(newSecret()),
          ip: "203.0.113.10",
          userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
          createdAt: now,
          absoluteExpiresAt: now + 30 * 86_400_000,
          idleTtlMs: 7 * 86_400_000,
          epoch: 0,
          amr: ["pwd"],
        });
      }
    }),
  );
  const after = await usedMemory();
  redis.disconnect();
  return Math.round((after - before) / total);
}
