import { type BenchReport, formatTable, TARGETS, type TargetName } from "./report.ts";
import { round } from "./stats.ts";

/**
 * Several whole runs as one report: every figure is the median of the runs' values (so each
 * ratio is the median of same-run ratios), and a target counts as met when more than half of
 * the runs met it, each judged on its own figures (medians taken figure by figure could pass a
 * target, e.g. p50 with p99, that no run met). Beside them: how many runs met each target, each
 * figure's range, and every run's own report.
 */
export type RunsReport = BenchReport & {
  runs: number;
  targets_met_in_runs: Record<TargetName, number>;
  /** `[lowest, highest]` of each figure over the runs, keyed by its path (`latency_ms.p50`). */
  range: Record<string, [number, number]>;
  per_run: BenchReport[];
};

export function combineRuns(reports: BenchReport[]): RunsReport {
  if (reports.length === 0) throw new Error("no runs to combine");
  const median = medianLeaves(reports) as BenchReport;
  const targetNames = Object.keys(TARGETS) as TargetName[];
  const metInRuns = Object.fromEntries(
    targetNames.map((name) => [name, reports.filter((r) => r.targets_met[name]).length]),
  ) as Record<TargetName, number>;
  const targetsMet = Object.fromEntries(
    targetNames.map((name) => [name, metInRuns[name] > reports.length / 2]),
  ) as Record<TargetName, boolean>;
  return {
    ...median,
    // The runs' verdict, as for every target: the median slope could say otherwise.
    e2e_lag_grows: !targetsMet.lag,
    targets_met: targetsMet,
    runs: reports.length,
    targets_met_in_runs: metInRuns,
    range: ranges(reports),
    per_run: reports,
  };
}

/** Leaf by leaf: numbers become the median of the runs' values; anything else is the first run's. */
function medianLeaves(values: unknown[]): unknown {
  const [head] = values;
  if (typeof head === "number") return medianOf(values as number[]);
  if (isRecord(head)) {
    return Object.fromEntries(
      Object.keys(head).map((key) => [
        key,
        medianLeaves(values.map((value) => (value as Record<string, unknown>)[key])),
      ]),
    );
  }
  return head;
}

function ranges(reports: BenchReport[]): Record<string, [number, number]> {
  const found: Record<string, number[]> = {};
  const visit = (value: unknown, path: string) => {
    if (typeof value === "number") found[path] = [...(found[path] ?? []), value];
    else if (isRecord(value)) {
      for (const [key, inner] of Object.entries(value)) visit(inner, path ? `${path}.${key}` : key);
    }
  };
  for (const report of reports) visit(report, "");
  return Object.fromEntries(
    Object.entries(found).map(([path, numbers]) => [
      path,
      [Math.min(...numbers), Math.max(...numbers)],
    ]),
  );
}

function medianOf(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] ?? 0)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return round(median, 2);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The figures the targets judge, as `[label, path]`, for the lines under the median table. */
const JUDGED: [string, string][] = [
  ["e2e × raw write", "e2e_ratio"],
  ["relay × raw publish", "relay_ratio"],
  ["intake × raw consume", "intake_ratio"],
  ["apply /s", "apply_per_s"],
  ["latency p50 ms", "latency_ms.p50"],
  ["latency p99 ms", "latency_ms.p99"],
  ["lag slope /s", "e2e_lag_slope_per_s"],
  ["RSS sales MB", "rss_mb.sales"],
  ["RSS orders MB", "rss_mb.orders"],
];

/** The median table, then each judged figure's range and each target's count of runs. */
export function formatRuns(report: RunsReport): string {
  const spread = JUDGED.map(([label, path]) => {
    const [low, high] = report.range[path] ?? [0, 0];
    return `${label} ${low}–${high}`;
  });
  const counts = (Object.keys(TARGETS) as TargetName[]).map(
    (name) => `${name} ${report.targets_met_in_runs[name]} of ${report.runs}`,
  );
  return [
    `median of ${report.runs} runs`,
    formatTable(report),
    "",
    `range over the runs: ${spread.join(" · ")}`,
    `targets met, by run: ${counts.join(" · ")}`,
  ].join("\n");
}
