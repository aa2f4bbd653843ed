/**
 * The Background port: tasks run after the answer was written; a failure is logged with its label.
 * `drain` starts what is still waiting for its answer and waits for everything (graceful shutdown,
 * and tests that read the mail).
 *
 * Why after the answer is written, and not merely after the handler returned: a task started in
 * the handler (as it was, on the next microtask) ran its synchronous part (a token, a query sent to
 * PostgreSQL, the mail's rendering) on the event loop before the transport wrote the answer, so
 * RequestPasswordReset and ResendVerification answered 0.2–0.3 ms later for existing addresses
 * than for unknown ones, a difference a caller can measure. The transports tell us when the answer
 * is out (`RequestContext.afterAnswer`: the HTTP response's `finish`, the gRPC call's end after its
 * trailers), which a timer (setImmediate, setTimeout) cannot promise: connect-node and grpc-js
 * write over several turns of the loop. An AsyncLocalStorage scope would have spared the flows the
 * `ctx` argument, but on Node 20 it turns on promise hooks for every promise of the process
 * (measured: 2.6× slower on a promise-heavy loop), ValidateToken's hot path included.
 *
 * Then a random 10–60 ms more. Started the moment the answer was out, the work (a query, a file
 * or an SMTP exchange) still overlapped the caller reading that answer and sending its next
 * request: measured from a client on the same machine, existing addresses still answered
 * 0.1–0.2 ms slower. Later, and at a random moment, it falls on whichever requests come then,
 * for existing and unknown addresses alike. It stays work that only existing accounts cause (the
 * mail is the point): a caller who could keep the service otherwise idle and probe it without
 * pause might still notice it on average; see docs/security.md.
 */
import type { Logger } from "pino";
import type { RequestContext } from "../domain/model.js";
import type { Background } from "../domain/ports.js";

/** How long after its answer a task starts, at random in this range (ms). */
const AFTER_ANSWER_MS = { min: 10, max: 60 } as const;

export interface BackgroundRunner extends Background {
  /**
   * Starts every task still waiting for its answer (at shutdown the calls have ended, or we stop
   * waiting for them), then resolves when every task has settled, or after `timeoutMs`.
   */
  drain(timeoutMs: number): Promise<void>;
}

export function createBackground(logger: Logger): BackgroundRunner {
  const waiting = new Set<() => void>();
  const running = new Set<Promise<void>>();
  return {
    defer(ctx: RequestContext, label: string, task: () => Promise<void>) {
      const start = () => {
        if (!waiting.delete(start)) return; // started already (by drain, or a second signal)
        const run = Promise.resolve()
          .then(task)
          .catch((error: unknown) => logger.error({ err: error, task: label }, `background task failed: ${label}`))
          .finally(() => running.delete(run));
        running.add(run);
      };
      waiting.add(start);
      if (ctx.afterAnswer !== undefined) {
        ctx.afterAnswer(() => setTimeout(start, AFTER_ANSWER_MS.min + Math.random() * (AFTER_ANSWER_MS.max - AFTER_ANSWER_MS.min)));
      } else {
        setImmediate(start);
      }
    },
    async drain(timeoutMs) {
      for (const start of [...waiting]) start();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      while (running.size > 0 || waiting.size > 0) {
        for (const start of [...waiting]) start();
        const settled = await Promise.race([Promise.allSettled([...running]).then(() => true), timeout.then(() => false)]);
        if (!settled) break;
      }
      clearTimeout(timer);
    },
  };
}
