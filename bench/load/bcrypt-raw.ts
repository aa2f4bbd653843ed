/**
 * The raw bcrypt limit of this machine: bcrypt verifications per second with every core busy
 * (UV_THREADPOOL_SIZE = the cores, set by the caller), on a 44-byte input, the size of the
 * pre-hash the service feeds bcrypt. No service, no network: the ceiling Login is measured against.
 *
 * argv[2]: cost, argv[3]: seconds
 */
import { availableParallelism } from "node:os";
import { hash, verify } from "@node-rs/bcrypt";

const cost = Number(process.argv[2] ?? 10);
const seconds = Number(process.argv[3] ?? 5);
const input = "x".repeat(44);
const stored = await hash(input, { cost });
const deadline = performance.now() + seconds * 1000;
let done = 0;
const startedAt = performance.now();
async function loop(): Promise<void> {
  while (performance.now() < deadline) {
    if (!(await verify(input, stored))) throw new Error("bcrypt failed to verify its own hash");
    done++;
  }
}
// Twice as many callers as threads keeps every thread busy.
await Promise.all(Array.from({ length: availableParallelism() * 2 }, loop));
const elapsed = (performance.now() - startedAt) / 1000;
process.stdout.write(
  `${JSON.stringify({ cost, verifiesPerSecond: Math.round((done / elapsed) * 10) / 10, threads: process.env.UV_THREADPOOL_SIZE })}\n`,
);
