/**
 * The load generators that run as processes of their own: h2load (nghttp2) for gRPC over h2c and
 * wrk for HTTP/1.1, each parsed into the same figures.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Figures, figures, round } from "./stats.js";

const run = promisify(execFile);

/** A gRPC request body: the 5-byte frame header (not compressed, big-endian length) and the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

export interface H2loadOptions {
  readonly url: string;
  readonly body: Buffer;
  /** Connections, and streams per connection: concurrency = connections × streams. */
  readonly connections: number;
  readonly streams: number;
  readonly seconds: number;
  readonly warmupSeconds?: number;
  /** Requests per second in all, spread over the connections (h2load --rps); as fast as it can when absent. */
  readonly rps?: number;
  /**
   * Open the connections one at a time, STAGGER_MS apart, so that a node:cluster service hands them
   * to its workers in turn (2:2 over two). Opened at once, they race the primary's hand-offs: 2:2
   * in some runs and 3:1 in others, and the same code then measured up to 40 % apart.
   */
  readonly staggered?: boolean;
}

/** Between two staggered connections: far longer than a hand-off from the cluster primary to a busy worker. */
const STAGGER_MS = 50;

/** h2load against a gRPC method; latencies from its per-request log. h2load cannot read grpc-status: callers count those errors on the server. */
export async function h2load(options: H2loadOptions): Promise<Figures> {
  if (!options.staggered || options.connections === 1) {
    const { latencies, errors } = await h2loadRun(options, options.connections, options.seconds * 1000);
    return figures(latencies, options.seconds, errors);
  }
  // One h2load per connection (h2load paces connections only for a count of requests, not for a
  // duration), each started STAGGER_MS after the last. They all end together, so every one of
  // them measures (after its warm-up) while all the others load the service too.
  const n = options.connections;
  const runs = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * STAGGER_MS));
      const durationMs = options.seconds * 1000 + (n - 1 - i) * STAGGER_MS;
      return { durationMs, ...(await h2loadRun(options, 1, durationMs)) };
    }),
  );
  const latencies = runs.flatMap((r) => r.latencies);
  const rps = runs.reduce((sum, r) => sum + r.latencies.length / (r.durationMs / 1000), 0);
  const errors = runs.reduce((sum, r) => sum + r.errors, 0);
  return { ...figures(latencies, options.seconds, errors), rps: round(rps, 1) };
}

/** One h2load process of `connections`; its latencies (µs) and failed requests. */
async function h2loadRun(
  options: H2loadOptions,
  connections: number,
  durationMs: number,
): Promise<{ readonly latencies: number[]; readonly errors: number }> {
  const dir = mkdtempSync(join(tmpdir(), "bench-h2load-"));
  const warmupSeconds = options.warmupSeconds ?? 2;
  try {
    const body = join(dir, "body.bin");
    const log = join(dir, "log.txt");
    writeFileSync(body, options.body);
    const { stdout } = await run(
      "h2load",
      [
        "-c",
        String(connections),
        "-m",
        String(options.streams),
        "-D",
        `${Math.round(durationMs)}ms`,
        "--warm-up-time",
        String(warmupSeconds),
        ...(options.rps === undefined ? [] : ["--rps", String(Math.max(1, Math.round(options.rps / options.connections)))]),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-d",
        body,
        `--log-file=${log}`,
        options.url,
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: durationMs + (warmupSeconds + 30) * 1000 },
    );
    const failed = /(\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
    const non2xx = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
    const transportErrors = failed ? Number(failed[1]) + Number(failed[2]) + Number(failed[3]) : 0;
    const httpErrors = non2xx ? Number(non2xx[1]) + Number(non2xx[2]) + Number(non2xx[3]) : 0;
    const latencies = readFileSync(log, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => Number(line.split("\t")[2]));
    return { latencies, errors: transportErrors + httpErrors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface WrkOptions {
  readonly url: string;
  readonly method: "GET" | "POST";
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  readonly connections: number;
  readonly seconds: number;
}

/** wrk (HTTP/1.1, keep-alive), with a Lua script for the method, headers and a binary-safe body. */
export async function wrk(options: WrkOptions): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), "bench-wrk-"));
  try {
    const script = join(dir, "request.lua");
    // A Lua string of decimal escapes: binary-safe, and without string.char's limit on arguments
    // (a long token made that call fail to compile, and wrk silently sent no body at all).
    const body = options.body ? `"${[...options.body].map((byte) => `\\${String(byte).padStart(3, "0")}`).join("")}"` : "nil";
    writeFileSync(
      script,
      [
        `wrk.method = "${options.method}"`,
        ...Object.entries(options.headers).map(([k, v]) => `wrk.headers["${k}"] = "${v}"`),
        `wrk.body = ${body}`,
      ].join("\n"),
    );
    // Warm-up, not measured.
    await run("wrk", ["-t2", `-c${options.connections}`, "-d2s", "-s", script, options.url], { timeout: 30_000 });
    const { stdout, stderr } = await run(
      "wrk",
      ["-t2", `-c${options.connections}`, `-d${options.seconds}s`, "--latency", "-s", script, options.url],
      {
        timeout: (options.seconds + 30) * 1000,
      },
    );
    // wrk reports a script that does not compile on stderr and then runs without it.
    if (stderr.trim()) throw new Error(`wrk: ${stderr.trim()}`);
    const ms = (label: string) => {
      const match = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
      if (!match) return Number.NaN;
      const value = Number(match[1]);
      return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
    };
    const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
    const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
    return {
      rps: round(Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0), 1),
      p50Ms: round(ms("50")),
      p99Ms: round(ms("99")),
      requests,
      errors: non2xx + socketErrors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
