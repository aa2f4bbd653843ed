/**
 * A Node load generator for gRPC unary calls whose bodies must differ (each refresh token works
 * once, so h2load's one fixed body cannot drive Refresh). Runs as its own process, over several
 * connections so that a cluster spreads them; prints the figures as JSON.
 *
 * argv[2]: JSON { address, path, bodiesFile (one base64 message a line), concurrency, seconds,
 * channels, reuse (send the bodies again once all were sent; for Refresh, each is sent once) }
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { figures } from "../lib/stats.js";

const options = JSON.parse(process.argv[2] ?? "{}") as {
  address: string;
  path: string;
  bodiesFile: string;
  concurrency: number;
  seconds: number;
  channels: number;
  reuse?: boolean;
};
const bodies = readFileSync(options.bodiesFile, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((line) => Buffer.from(line, "base64"));
const identity = (value: Buffer) => value;
const clients = Array.from(
  { length: options.channels },
  () => new grpc.Client(options.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
);

const latencies: number[] = [];
let errors = 0;
let next = 0;
const deadline = performance.now() + options.seconds * 1000;
const startedAt = performance.now();

function once(worker: number): Promise<void> {
  return new Promise((resolve) => {
    const body = bodies[next++ % bodies.length] as Buffer;
    const client = clients[worker % clients.length] as grpc.Client;
    const start = performance.now();
    client.makeUnaryRequest(options.path, identity, identity, body, (error) => {
      if (error) errors++;
      else latencies.push((performance.now() - start) * 1000);
      resolve();
    });
  });
}

async function loop(worker: number): Promise<void> {
  // Without reuse, stop once each body was sent: a refresh token replayed is an error by design.
  while (performance.now() < deadline && (options.reuse || next < bodies.length)) await once(worker);
}

await Promise.all(Array.from({ length: options.concurrency }, (_, i) => loop(i)));
const seconds = (performance.now() - startedAt) / 1000;
for (const client of clients) client.close();
process.stdout.write(`${JSON.stringify({ ...figures(latencies, seconds, errors), seconds })}\n`);
