/** Alternating rounds of one gRPC method on several services (the A/B scenarios: tracing, validate-baseline). */
import { cpuSeconds, type RunningService } from "./service.js";
import type { Figures } from "./stats.js";
import { h2load } from "./tools.js";

export interface Round {
  readonly figures: Figures;
  /** The service's CPU per call (µs, every process and thread; warm-up included, at the round's rate). */
  readonly cpuUsPerCall: number;
}

/**
 * One round: `path` on `svc` with h2load at `streams` concurrent streams (one connection at 1, four
 * opened in turn otherwise), and the CPU the service spent per call meanwhile.
 */
export async function grpcRound(svc: RunningService, path: string, body: Buffer, streams: number, seconds: number): Promise<Round> {
  const [connections, perConnection] = streams === 1 ? [1, 1] : [4, streams / 4];
  const cpu0 = svc.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const t0 = performance.now();
  const figures = await h2load({
    url: `http://${svc.grpcAddress}${path}`,
    body,
    connections,
    streams: perConnection,
    seconds,
    warmupSeconds: 1,
    staggered: true,
  });
  const cpu = svc.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpu0;
  const calls = figures.rps * ((performance.now() - t0) / 1000);
  return { figures, cpuUsPerCall: (cpu * 1e6) / calls };
}
