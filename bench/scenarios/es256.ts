/**
 * The raw ES256 rates of this machine on every core (bench/load/es256-raw.ts), node:crypto's
 * one-shot primitive beside WebCrypto through jose: the floor of ValidateToken for a token never
 * seen before, and the measurement behind the choice of primitive.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { type Bench, cores, log, type Row, root } from "../lib/run.js";

export interface Es256Rates {
  readonly cores: number;
  readonly nodeVerify: { readonly perSecond: number; readonly cpuUsPerOperation: number };
  readonly nodeSign: { readonly perSecond: number; readonly cpuUsPerOperation: number };
  readonly webCryptoVerify: { readonly perSecond: number; readonly cpuUsPerOperation: number };
  readonly webCryptoSign: { readonly perSecond: number; readonly cpuUsPerOperation: number };
}

const rawRow = (scenario: string, rate: { perSecond: number; cpuUsPerOperation: number }, note: string): Row => ({
  scenario,
  figures: { rps: rate.perSecond, p50Ms: Number.NaN, p99Ms: Number.NaN, requests: 0, errors: 0 },
  serviceCpuUsPerCall: rate.cpuUsPerOperation,
  note,
});

export function es256Raw(bench: Bench): Es256Rates {
  const out = execFileSync(process.execPath, ["--import", "tsx", join(root, "bench", "load", "es256-raw.ts"), String(bench.seconds)], {
    cwd: root,
    env: { ...process.env, UV_THREADPOOL_SIZE: String(cores) },
  });
  const rates = JSON.parse(out.toString()) as Es256Rates;
  const threads = `${rates.cores} threads, no service; CPU µs per operation in the CPU column`;
  bench.rows.push(rawRow("raw ES256 verify, node:crypto one-shot (the service's)", rates.nodeVerify, threads));
  bench.rows.push(rawRow("raw ES256 verify, WebCrypto through jose", rates.webCryptoVerify, `${threads}; process CPU, pool included`));
  bench.rows.push(rawRow("raw ES256 sign, node:crypto one-shot (the service's)", rates.nodeSign, threads));
  bench.rows.push(rawRow("raw ES256 sign, WebCrypto through jose", rates.webCryptoSign, `${threads}; process CPU, pool included`));
  bench.memory.es256 = rates;
  log(
    `raw ES256 verify: ${rates.nodeVerify.perSecond}/s (${rates.nodeVerify.cpuUsPerOperation} µs), WebCrypto ${rates.webCryptoVerify.perSecond}/s`,
  );
  return rates;
}
