/**
 * bcrypt on threads of its own, at a lower CPU priority than the event loop.
 *
 * On libuv's shared thread pool (where @node-rs/bcrypt's async calls run), a login storm filled
 * every thread for hundreds of milliseconds per job: WebCrypto's signature checks, DNS and file
 * work waited behind it, and the event loops competed with it for the cores, so ValidateToken's
 * p99 went from milliseconds to seconds. Here bcrypt runs synchronously on `threads` worker
 * threads whose nice value is raised: they still take every idle cycle (so logins reach the
 * machine's bcrypt rate), but the scheduler runs an event loop first whenever it has work. Linux
 * keeps the nice value per thread, so only these threads are affected; in a container the nice
 * value only orders the container's own threads.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

export interface BcryptPoolOptions {
  /** Threads running bcrypt: at most this many hashes or verifications at once. */
  readonly threads: number;
  /** Nice value of those threads (0–19; higher yields more readily). */
  readonly niceness: number;
}

export interface BcryptPool {
  /** bcrypt of `input` with a full `$2b$NN$` + 22-character salt. */
  hash(input: string, salt: string): Promise<string>;
  verify(input: string, encodedHash: string): Promise<boolean>;
  /** Ends the threads; jobs not started yet are refused. */
  close(): Promise<void>;
}

// CommonJS, evaluated in the worker: no file to find at run time, under tsx, vitest or dist alike.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
try {
  require("node:os").setPriority(workerData.niceness);
} catch {
  // Not permitted here: bcrypt still runs, at the event loop's priority.
}
const bcrypt = require(workerData.bcryptPath);
parentPort.on("message", ({ op, input, arg }) => {
  try {
    const result = op === "verify" ? bcrypt.verifySync(input, arg) : bcrypt.hashSync(input, { salt: arg });
    parentPort.postMessage({ result });
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Job {
  readonly op: "hash" | "verify";
  readonly input: string;
  readonly arg: string;
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

interface Thread {
  readonly worker: Worker;
  job: Job | undefined;
}

export function createBcryptPool(options: BcryptPoolOptions): BcryptPool {
  const bcryptPath = createRequire(import.meta.url).resolve("@node-rs/bcrypt");
  const threads = new Set<Thread>();
  const queue: Job[] = [];
  let closed = false;

  function start(): void {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptPath, niceness: options.niceness } });
    const thread: Thread = { worker, job: undefined };
    // An idle thread must not keep the process alive; a busy one does, until its answer is in.
    worker.unref();
    worker.on("message", (message: { result?: string | boolean; error?: string }) => {
      const job = thread.job;
      thread.job = undefined;
      worker.unref();
      if (job !== undefined) {
        if (message.error !== undefined) job.reject(new Error(`bcrypt: ${message.error}`));
        else job.resolve(message.result as string | boolean);
      }
      dispatch();
    });
    worker.on("error", (error) => {
      const job = thread.job;
      thread.job = undefined;
      job?.reject(error instanceof Error ? error : new Error(String(error)));
    });
    worker.on("exit", () => {
      threads.delete(thread);
      thread.job?.reject(new Error("the bcrypt thread stopped"));
      thread.job = undefined;
      if (!closed) {
        start();
        dispatch();
      }
    });
    threads.add(thread);
  }

  function dispatch(): void {
    for (const thread of threads) {
      if (queue.length === 0) return;
      if (thread.job !== undefined) continue;
      const job = queue.shift() as Job;
      thread.job = job;
      thread.worker.ref();
      thread.worker.postMessage({ op: job.op, input: job.input, arg: job.arg });
    }
  }

  function run<T extends string | boolean>(op: Job["op"], input: string, arg: string): Promise<T> {
    if (closed) return Promise.reject(new Error("the bcrypt pool is closed"));
    return new Promise<T>((resolve, reject) => {
      queue.push({ op, input, arg, resolve: resolve as (value: string | boolean) => void, reject });
      dispatch();
    });
  }

  for (let i = 0; i < Math.max(1, options.threads); i++) start();

  return {
    hash: (input, salt) => run<string>("hash", input, salt),
    verify: (input, encodedHash) => run<boolean>("verify", input, encodedHash),
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error("the bcrypt pool is closed"));
      await Promise.all([...threads].map((thread) => thread.worker.terminate()));
    },
  };
}
