/**
 * Background work waits for the answer: a task deferred during a request starts only after the
 * transport said the answer was written, never before; shutdown (drain) starts what still waits.
 * Ordering is checked with a fake transport's signal, never with a clock.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { RequestContext } from "../../src/domain/model.js";
import { createBackground } from "../../src/infra/background.js";

/** A request context whose transport signals "answer written" when the test says so. */
function fakeRequest() {
  const waiting: (() => void)[] = [];
  const ctx: RequestContext = {
    tenantHeader: undefined,
    credential: { kind: "none" },
    ip: undefined,
    userAgent: undefined,
    afterAnswer: (start) => waiting.push(start),
  };
  const answerWritten = () => {
    for (const start of waiting.splice(0)) start();
  };
  return { ctx, answerWritten };
}

/** Lets the event loop turn a few times (microtasks, immediates). */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("background work", () => {
  it("does not start a task before its request's answer is written", async () => {
    const background = createBackground(pino({ level: "silent" }));
    const request = fakeRequest();
    const started: string[] = [];
    background.defer(request.ctx, "mail", async () => {
      started.push("mail");
    });
    await turns();
    expect(started).toEqual([]);
    request.answerWritten();
    await background.drain(5000);
    expect(started).toEqual(["mail"]);
  });

  it("starts it on its own once the answer is written (after a short random delay)", async () => {
    const background = createBackground(pino({ level: "silent" }));
    const request = fakeRequest();
    const done = new Promise<void>((resolve) => background.defer(request.ctx, "mail", async () => resolve()));
    request.answerWritten();
    await done; // would time out (and fail) if the task never started
  });

  it("drains at shutdown: starts what still waits for its answer and waits for it to finish", async () => {
    const background = createBackground(pino({ level: "silent" }));
    const request = fakeRequest();
    let finished = false;
    background.defer(request.ctx, "mail", async () => {
      await turns(2);
      finished = true;
    });
    await background.drain(5000);
    expect(finished).toBe(true);
  });

  it("keeps one request's tasks from waiting on another's answer", async () => {
    const background = createBackground(pino({ level: "silent" }));
    const first = fakeRequest();
    const second = fakeRequest();
    const started: string[] = [];
    background.defer(first.ctx, "first", async () => void started.push("first"));
    background.defer(second.ctx, "second", async () => void started.push("second"));
    second.answerWritten();
    await new Promise<void>((resolve) => {
      const check = () => (started.length > 0 ? resolve() : setTimeout(check, 5));
      check();
    });
    expect(started).toEqual(["second"]);
    await background.drain(5000);
    expect(started).toEqual(["second", "first"]);
  });

  it("starts a task outside any request (the CLI) on the next turn of the loop, and logs a failure", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void lines.push(line) });
    const background = createBackground(logger);
    const ctx: RequestContext = { tenantHeader: undefined, credential: { kind: "none" }, ip: undefined, userAgent: undefined };
    let ran = false;
    background.defer(ctx, "broken mail", async () => {
      ran = true;
      throw new Error("smtp down");
    });
    await turns();
    expect(ran).toBe(true);
    await background.drain(5000);
    expect(lines.some((line) => line.includes("background task failed: broken mail"))).toBe(true);
  });
});
