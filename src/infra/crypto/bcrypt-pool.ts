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
 *
 * The threads also verify imported argon2id hashes, and pad a verification with dummy bcrypt work
 * up to the work of one at a given cost (see passwords.ts: every login does the same work).
 * Work is counted in bcrypt units: a bcrypt at cost c is 2^c units (its key schedule runs 2^c
 * rounds; the rest of it is a constant below one percent at cost 8).
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
  /**
   * bcrypt verification of `input`; then, in the same job, a dummy bcrypt of each cost in
   * `padCosts`, so that the job does the work of a costlier one.
   */
  verify(input: string, encodedHash: string, padCosts?: readonly number[]): Promise<boolean>;
  /**
   * argon2 verification of `password` (false for a malformed hash); then, in the same job, dummy
   * bcrypt work for what the argon2 left of the work of one bcrypt at `padToCost`. The argon2's
   * share is measured on the thread: its time over the thread's recent time per bcrypt unit.
   */
  verifyArgon2(password: string, encodedHash: string, padToCost: number): Promise<boolean>;
  /** bcrypt units the threads have run for jobs so far (2^c per bcrypt at cost c, padding included). */
  workDone(): number;
  /** Ends the threads; jobs not started yet are refused. */
  close(): Promise<void>;
}

/** The smallest cost bcrypt accepts: the grain of padding. */
export const MIN_COST = 4;

/**
 * The bcrypt costs whose work adds up to `units` (rounded to the nearest 2^minCost): its binary
 * digits from minCost up. Evaluated in the worker too (embedded by its source below).
 */
export function padCosts(units: number, minCost: number): number[] {
  const grain = 2 ** minCost;
  let left = Math.round(units / grain) * grain;
  const costs: number[] = [];
  for (let cost = 31; cost >= minCost && left > 0; cost--) {
    if (left >= 2 ** cost) {
      costs.push(cost);
      left -= 2 ** cost;
    }
  }
  return costs;
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
const argon2 = require(workerData.argon2Path);
const padCosts = ${padCosts.toString()};

// This thread's time per bcrypt unit (ms) over its recent bcrypt work, weighted by work (so big
// jobs count most), fading by a tenth a job: what converts an argon2 verification's time into
// units. Primed at start with two small hashes.
let recentMs = 0;
let recentUnits = 0;
let jobUnits = 0; // this job's bcrypt work, reported with its answer
function timedBcrypt(cost, run) {
  const start = performance.now();
  const result = run();
  const ms = performance.now() - start;
  if (cost >= 4 && cost <= 31) {
    recentMs = 0.9 * recentMs + ms;
    recentUnits = 0.9 * recentUnits + 2 ** cost;
    jobUnits += 2 ** cost;
  } // else a malformed hash: nothing to learn from
  return result;
}
const costOf = (encoded) => Number(encoded.slice(4, 6));
function pad(costs) {
  for (const cost of costs) timedBcrypt(cost, () => bcrypt.hashSync("pad", { cost }));
}
for (let i = 0; i < 2; i++) pad([6]);

function verifyArgon2(password, encoded, padToCost) {
  const start = performance.now();
  let ok;
  try {
    ok = argon2.verifySync(encoded, password);
  } catch {
    ok = false; // a malformed hash matches nothing
  }
  const used = ((performance.now() - start) * recentUnits) / recentMs;
  pad(padCosts(2 ** padToCost - used, ${MIN_COST}));
  return ok;
}

parentPort.on("message", ({ op, input, arg, padding }) => {
  jobUnits = 0;
  try {
    let result;
    if (op === "verify") {
      result = timedBcrypt(costOf(arg), () => bcrypt.verifySync(input, arg));
      pad(padding);
    } else if (op === "argon2") {
      result = verifyArgon2(input, arg, padding);
    } else {
      result = timedBcrypt(costOf(arg), () => bcrypt.hashSync(input, { salt: arg }));
    }
    parentPort.postMessage({ result, units: jobUnits });
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Job {
  readonly op: "hash" | "verify" | "argon2";
  readonly input: string;
  readonly arg: string;
  /** verify: the costs of the dummy work after it; argon2: the cost whose work to pad up to. */
  readonly padding: readonly number[] | number;
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

interface Thread {
  readonly worker: Worker;
  job: Job | undefined;
}

export function createBcryptPool(options: BcryptPoolOptions): BcryptPool {
  const require = createRequire(import.meta.url);
  const modules = { bcryptPath: require.resolve("@node-rs/bcrypt"), argon2Path: require.resolve("@node-rs/argon2") };
  const threads = new Set<Thread>();
  const queue: Job[] = [];
  let closed = false;
  let unitsDone = 0;

  function start(): void {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ...modules, niceness: options.niceness } });
    const thread: Thread = { worker, job: undefined };
    // An idle thread must not keep the process alive; a busy one does, until its answer is in.
    worker.unref();
    worker.on("message", (message: { result?: string | boolean; error?: string; units?: number }) => {
      unitsDone += message.units ?? 0;
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
      thread.worker.postMessage({ op: job.op, input: job.input, arg: job.arg, padding: job.padding });
    }
  }

  function run<T extends string | boolean>(op: Job["op"], input: string, arg: string, padding: Job["padding"]): Promise<T> {
    if (closed) return Promise.reject(new Error("the bcrypt pool is closed"));
    return new Promise<T>((resolve, reject) => {
      queue.push({ op, input, arg, padding, resolve: resolve as (value: string | boolean) => void, reject });
      dispatch();
    });
  }

  for (let i = 0; i < Math.max(1, options.threads); i++) start();

  return {
    hash: (input, salt) => run<string>("hash", input, salt, []),
    verify: (input, encodedHash, padding = []) => run<boolean>("verify", input, encodedHash, padding),
    verifyArgon2: (password, encodedHash, padToCost) => run<boolean>("argon2", password, encodedHash, padToCost),
    workDone: () => unitsDone,
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error("the bcrypt pool is closed"));
      await Promise.all([...threads].map((thread) => thread.worker.terminate()));
    },
  };
}
