/** Latency figures from samples (microseconds). */
export interface Figures {
  /** Requests per second over the measured window. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errors: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function figures(latenciesUs: number[], seconds: number, errors: number): Figures {
  const sorted = latenciesUs.sort((a, b) => a - b);
  return {
    rps: round(sorted.length / seconds, 1),
    p50Ms: round(percentile(sorted, 50) / 1000),
    p99Ms: round(percentile(sorted, 99) / 1000),
    requests: sorted.length,
    errors,
  };
}

export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
