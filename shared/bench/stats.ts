/** Latency percentiles in milliseconds. */
export type Percentiles = { p50: number; p95: number; p99: number; max: number; count: number };

/** Nearest-rank percentiles of `values` (any order); all zero for an empty list. */
export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0, count: 0 };
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return {
    p50: round(rank(50), 2),
    p95: round(rank(95), 2),
    p99: round(rank(99), 2),
    max: round(sorted[sorted.length - 1] ?? 0, 2),
    count: sorted.length,
  };
}

/** Events per second; 0 when no time passed. */
export function perSecond(events: number, ms: number): number {
  return ms > 0 ? round((events * 1000) / ms, 0) : 0;
}

/** `value / baseline`, two decimals; 0 when there is no baseline. */
export function ratio(value: number, baseline: number): number {
  return baseline > 0 ? round(value / baseline, 2) : 0;
}

export function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** Least-squares slope of `y` over `x`; 0 with fewer than two distinct `x`. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const { x, y } of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}

/**
 * Events written but not yet applied, at `samples` evenly spaced instants of `[fromMs, toMs]`,
 * from each event's write and apply times (epoch ms; `appliedAt` null while not applied).
 */
export function lagCurve(
  events: { writtenAt: number; appliedAt: number | null }[],
  fromMs: number,
  toMs: number,
  samples: number,
): { x: number; y: number }[] {
  const written = events.map((e) => e.writtenAt).sort((a, b) => a - b);
  const applied = events.map((e) => e.appliedAt ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const curve: { x: number; y: number }[] = [];
  for (let i = 0; i < samples; i++) {
    const at = samples === 1 ? toMs : fromMs + ((toMs - fromMs) * i) / (samples - 1);
    curve.push({ x: (at - fromMs) / 1000, y: countAtMost(written, at) - countAtMost(applied, at) });
  }
  return curve;
}

/** How many of the ascending `sorted` values are ≤ `limit` (binary search). */
function countAtMost(sorted: number[], limit: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] ?? 0) <= limit) low = middle + 1;
    else high = middle;
  }
  return low;
}
