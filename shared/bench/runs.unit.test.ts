import { expect, test } from "bun:test";
import { type BenchReport, targetsMet } from "./report.ts";
import { combineRuns, formatRuns } from "./runs.ts";

const percentiles = (p50: number, p99: number) => ({ p50, p95: p99, p99, max: p99, count: 1000 });

function report(figures: {
  e2eRatio: number;
  lagSlope: number;
  p50: number;
  p99: number;
  rssSales: number;
}): BenchReport {
  const withoutTargets: Omit<BenchReport, "targets_met"> = {
    raw_write_per_s: 2_600,
    raw_publish_per_s: 20_000,
    raw_consume_per_s: 80_000,
    e2e_per_s: Math.round(2_600 * figures.e2eRatio),
    e2e_write_per_s: 900,
    e2e_ratio: figures.e2eRatio,
    e2e_lag_slope_per_s: figures.lagSlope,
    e2e_lag_max: 100,
    e2e_lag_grows: figures.lagSlope > 45,
    e2e_drain_ms: 40,
    e2e_latency_ms: percentiles(35, 130),
    e2e_cpu_us_per_event: { sales: 700, orders: 280, postgres: 800, nats: 100, bench: 130 },
    e2e_use_cases_per_write_transaction: 2.5,
    e2e_machine_busy_pct: 90,
    e2e_other_load_pct: 2,
    relay_per_s: 10_000,
    relay_ratio: 0.5,
    intake_per_s: 16_000,
    intake_ratio: 0.2,
    apply_per_s: 4_400,
    apply_ratio: 5,
    latency_rate_per_s: 210,
    latency_ms: percentiles(figures.p50, figures.p99),
    latency_stages_ms: {
      to_relay: { p50: 1, p99: 9 },
      relay_to_inbox: { p50: 1.5, p99: 5 },
      inbox_to_applied: { p50: 2.5, p99: 10 },
    },
    rss_mb: { sales: figures.rssSales, orders: 145 },
    events_checked: 66_000,
    checkpointed_between_phases: true,
    database: "bench_1",
    nats_namespace: "b1",
    options: {
      events: 50_000,
      concurrency: 16,
      publish_window: 256,
      duration_s: 15,
      latency_duration_s: 10,
    },
    machine: {
      cpus: 2,
      cpu_model: "AMD EPYC",
      memory_gb: 24,
      os: "Linux",
      bun: "1.4.5",
      postgres: "15.20",
      nats_server: "2.9.10",
    },
    elapsed_s: 70,
  };
  return { ...withoutTargets, targets_met: targetsMet(withoutTargets) };
}

const runs = [
  report({ e2eRatio: 0.3, lagSlope: 120, p50: 6.36, p99: 24.1, rssSales: 140 }),
  report({ e2eRatio: 0.28, lagSlope: -1.5, p50: 4.09, p99: 18.7, rssSales: 134 }),
  report({ e2eRatio: 0.33, lagSlope: 0.2, p50: 5.17, p99: 16.3, rssSales: 300 }),
];

test("several runs: each figure is the median, and a target is met when most runs met it", () => {
  const combined = combineRuns(runs);
  expect(combined.e2e_ratio).toBe(0.3);
  expect(combined.latency_ms.p50).toBe(5.17);
  expect(combined.latency_ms.p99).toBe(18.7);
  expect(combined.rss_mb.sales).toBe(140);
  expect(combined.e2e_lag_slope_per_s).toBe(0.2);
  // One run's backlog grew; the median's does not.
  expect(combined.e2e_lag_grows).toBe(false);
  expect(combined.targets_met).toMatchObject({ latency: false, lag: true, rss: true, relay: true });
  expect(combined.targets_met_in_runs).toMatchObject({ latency: 1, lag: 2, rss: 2, e2e: 0 });
  expect(combined.range["latency_ms.p50"]).toEqual([4.09, 6.36]);
  expect(combined.range["rss_mb.sales"]).toEqual([134, 300]);
  expect(combined.runs).toBe(3);
  expect(combined.per_run).toEqual(runs);
  expect(combined.machine.cpu_model).toBe("AMD EPYC");
});

test("a target no run met is not met, though the medians taken figure by figure would pass it", () => {
  const [fastButSpiky, slowButSteady] = [
    report({ e2eRatio: 0.3, lagSlope: 0, p50: 4, p99: 30, rssSales: 140 }),
    report({ e2eRatio: 0.3, lagSlope: 0, p50: 5.5, p99: 20, rssSales: 140 }),
  ];
  const combined = combineRuns([fastButSpiky, slowButSteady] as BenchReport[]);
  expect(combined.latency_ms).toMatchObject({ p50: 4.75, p99: 25 });
  expect(combined.targets_met_in_runs.latency).toBe(0);
  expect(combined.targets_met.latency).toBe(false);
});

test("the backlog grows when most runs saw it grow, whatever the median slope says", () => {
  const growing = report({ e2eRatio: 0.3, lagSlope: 120, p50: 4, p99: 20, rssSales: 140 });
  const steady = report({ e2eRatio: 0.3, lagSlope: -118, p50: 4, p99: 20, rssSales: 140 });
  const combined = combineRuns([growing, steady]);
  expect(combined.e2e_lag_slope_per_s).toBe(1); // under the 1 % of writes that counts as growing
  expect(combined.targets_met.lag).toBe(false);
  expect(combined.e2e_lag_grows).toBe(true);
});

test("an even number of runs takes the mean of the middle two", () => {
  const combined = combineRuns(runs.slice(0, 2));
  expect(combined.latency_ms.p50).toBe(5.23);
  expect(combined.e2e_ratio).toBe(0.29);
});

test("the text shows the medians, each judged figure's range and each target's count", () => {
  const text = formatRuns(combineRuns(runs));
  expect(text.split("\n")[0]).toBe("median of 3 runs");
  expect(text).toContain("latency p50 ms 4.09–6.36");
  expect(text).toContain("latency 1 of 3");
  expect(text).toContain("e2e 0 of 3");
});

test("a target is judged on the rates, not on the ratio rounded for display", () => {
  const base = report({ e2eRatio: 0.6, lagSlope: 0, p50: 3, p99: 10, rssSales: 140 });
  // 0.5996 and 0.2495, shown rounded as 0.6 and 0.25
  const nearly = { ...base, e2e_per_s: 1_559, intake_per_s: 19_960, intake_ratio: 0.25 };
  expect(targetsMet(nearly)).toMatchObject({ e2e: false, intake: false });
  const exactly = { ...base, e2e_per_s: 1_560, intake_per_s: 20_000 };
  expect(targetsMet(exactly)).toMatchObject({ e2e: true, intake: true });
});

/** A run within the RSS and latency targets. */
const full = report({ e2eRatio: 0.3, lagSlope: 0, p50: 4, p99: 20, rssSales: 140 });

test("the RSS target is met only with the backlog it is set for", () => {
  expect(targetsMet(full).rss).toBe(true);
  expect(targetsMet({ ...full, options: { ...full.options, events: 49_999 } }).rss).toBe(false);
  expect(targetsMet({ ...full, rss_mb: { sales: 140, orders: 257 } }).rss).toBe(false);
});

test("the latency target is judged only at 25 % of the maximum, not at a rate given", () => {
  expect(targetsMet(full).latency).toBe(true);
  const given = { ...full, options: { ...full.options, latency_rate_per_s: 20 } };
  expect(targetsMet(given).latency).toBe(false);
});
