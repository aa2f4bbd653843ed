/**
 * Statistics for paired timing samples (an existing account's request beside an unknown one's,
 * sent one after the other): the median of the paired differences with a bootstrap confidence
 * interval, and two significance tests, Wilcoxon's signed-rank test on the pairs and the
 * Mann-Whitney U test on the two samples as wholes (both with the normal approximation, which is
 * exact enough from a few dozen pairs on).
 */

export interface PairedComparison {
  /** Number of pairs. */
  readonly pairs: number;
  /** Median of each side, in the samples' unit. */
  readonly medianA: number;
  readonly medianB: number;
  /** Median of the paired differences a − b. */
  readonly medianDiff: number;
  /** 95 % percentile-bootstrap interval of that median. */
  readonly ci95: readonly [number, number];
  /** Two-sided p-value of Wilcoxon's signed-rank test on the differences (H0: symmetric about 0). */
  readonly pWilcoxon: number;
  /** Two-sided p-value of the Mann-Whitney U test on the two samples (H0: same distribution). */
  readonly pMannWhitney: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** A small seeded PRNG (mulberry32), so that a run's resampling and request order can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Ranks from 1, ties given the mean of their ranks; and Σ(t³ − t) over the tie groups. */
function ranks(values: readonly number[]): { ranks: number[]; tieTerm: number } {
  const order = values.map((value, index) => ({ value, index })).sort((x, y) => x.value - y.value);
  const result = new Array<number>(values.length);
  let tieTerm = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && (order[end + 1] as { value: number }).value === (order[start] as { value: number }).value) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) result[(order[k] as { index: number }).index] = rank;
    const t = end - start + 1;
    tieTerm += t * t * t - t;
    start = end + 1;
  }
  return { ranks: result, tieTerm };
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export function twoSidedNormalP(z: number): number {
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** The complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + z / 2);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Wilcoxon's signed-rank test, normal approximation with the tie correction; zero differences dropped (Wilcoxon's rule). */
export function wilcoxonSignedRankP(differences: readonly number[]): number {
  const nonZero = differences.filter((d) => d !== 0);
  const n = nonZero.length;
  if (n === 0) return 1;
  const { ranks: r, tieTerm } = ranks(nonZero.map(Math.abs));
  let wPlus = 0;
  for (let i = 0; i < n; i++) if ((nonZero[i] as number) > 0) wPlus += r[i] as number;
  const mean = (n * (n + 1)) / 4;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48;
  return variance <= 0 ? 1 : twoSidedNormalP((wPlus - mean) / Math.sqrt(variance));
}

/** The Mann-Whitney U test, normal approximation with the tie correction. */
export function mannWhitneyP(a: readonly number[], b: readonly number[]): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return 1;
  const { ranks: r, tieTerm } = ranks([...a, ...b]);
  let rankSumA = 0;
  for (let i = 0; i < n1; i++) rankSumA += r[i] as number;
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  return variance <= 0 ? 1 : twoSidedNormalP((u - (n1 * n2) / 2) / Math.sqrt(variance));
}

/** Compares paired samples `a[i]` and `b[i]`; `resamples` bootstrap draws of the pairs, from `seed`. */
export function comparePaired(a: readonly number[], b: readonly number[], resamples = 2000, seed = 1): PairedComparison {
  if (a.length !== b.length) throw new Error(`paired samples differ in length: ${a.length} and ${b.length}`);
  const differences = a.map((value, i) => value - (b[i] as number));
  const random = seededRandom(seed);
  const medians: number[] = [];
  const draw = new Array<number>(differences.length);
  for (let k = 0; k < resamples; k++) {
    for (let i = 0; i < differences.length; i++) draw[i] = differences[Math.floor(random() * differences.length)] as number;
    medians.push(median(draw));
  }
  medians.sort((x, y) => x - y);
  const at = (q: number) => medians[Math.min(medians.length - 1, Math.max(0, Math.round(q * (medians.length - 1))))] ?? Number.NaN;
  return {
    pairs: differences.length,
    medianA: median(a),
    medianB: median(b),
    medianDiff: median(differences),
    ci95: [at(0.025), at(0.975)],
    pWilcoxon: wilcoxonSignedRankP(differences),
    pMannWhitney: mannWhitneyP(a, b),
  };
}
