/**
 * The Background port: tasks run after the answer was sent; a failure is logged with its label.
 * `drain` waits for what is running (graceful shutdown, and tests that read the mail).
 */
import type { Logger } from "pino";
import type { Background } from "../domain/ports.js";

export interface BackgroundRunner extends Background {
  /** Resolves when every task started so far has settled, or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
}

export function createBackground(logger: Logger): BackgroundRunner {
  const running = new Set<Promise<void>>();
  return {
    defer(label, task) {
      const run = Promise.resolve()
        .then(task)
        .catch((error: unknown) => logger.error({ err: error, task: label }, `background task failed: ${label}`))
        .finally(() => running.delete(run));
      running.add(run);
    },
    async drain(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      while (running.size > 0) {
        const settled = await Promise.race([Promise.allSettled([...running]).then(() => true), timeout.then(() => false)]);
        if (!settled) break;
      }
      clearTimeout(timer);
    },
  };
}
