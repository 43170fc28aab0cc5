import { describe, expect, test } from "bun:test";
import { createMetricsRegistry } from "./metrics.ts";
import { metricValue, parsePrometheusText } from "./testing/prometheus-text.ts";

describe("createMetricsRegistry", () => {
  test("renders counters with HELP and TYPE, a label-less counter at 0 before any increment", async () => {
    const metrics = createMetricsRegistry();
    metrics.counter("jobs_total", "Jobs done.");
    const labelled = metrics.counter("requests_total", "Requests.");
    labelled.inc({ route: "/a", status: "200" });
    labelled.inc({ route: "/a", status: "200" }, 2);
    labelled.inc({ status: "404", route: "/b" });

    const text = await metrics.render();
    expect(text).toContain(
      "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 0\n",
    );
    expect(metricValue(text, "requests_total", { route: "/a", status: "200" })).toBe(3);
    expect(metricValue(text, "requests_total", { route: "/b" })).toBe(1);
    expect(labelled.value({ status: "200", route: "/a" })).toBe(3);
  });

  test("histograms count cumulatively per bucket with +Inf, _sum and _count", async () => {
    const metrics = createMetricsRegistry();
    const durations = metrics.histogram("batch_seconds", "Batch durations.", [0.1, 1]);
    for (const value of [0.05, 0.1, 0.5, 3]) durations.observe(value, { kind: "x" });

    const text = await metrics.render();
    expect(metricValue(text, "batch_seconds_bucket", { kind: "x", le: "0.1" })).toBe(2);
    expect(metricValue(text, "batch_seconds_bucket", { kind: "x", le: "1" })).toBe(3);
    expect(metricValue(text, "batch_seconds_bucket", { kind: "x", le: "+Inf" })).toBe(4);
    expect(metricValue(text, "batch_seconds_count", { kind: "x" })).toBe(4);
    expect(metricValue(text, "batch_seconds_sum", { kind: "x" })).toBeCloseTo(3.65);
  });

  test("gauges are set by collectors at each scrape; a failing collector leaves its gauges out", async () => {
    const warnings: unknown[] = [];
    const metrics = createMetricsRegistry({
      log: { warn: (details: object) => void warnings.push(details) } as never,
    });
    const pending = metrics.gauge("pending", "Pending rows.");
    let rows: number | Error = 7;
    metrics.onScrape("database", () => {
      if (rows instanceof Error) throw rows;
      pending.set(rows);
    });

    expect(metricValue(await metrics.render(), "pending")).toBe(7);
    rows = 9;
    expect(metricValue(await metrics.render(), "pending")).toBe(9);
    rows = new Error("database down");
    const failed = await metrics.render();
    expect(metricValue(failed, "pending")).toBeUndefined();
    expect(metricValue(failed, "metrics_collector_failures_total", { collector: "database" })).toBe(
      1,
    );
    expect(warnings).toEqual([{ collector: "database", err: "database down" }]);
  });

  test("escapes label values so any text round-trips", async () => {
    const metrics = createMetricsRegistry();
    const odd = 'a "quoted" \\ back\nslash';
    metrics.counter("odd_total", "Odd.").inc({ path: odd });
    const [sample] = parsePrometheusText(await metrics.render()).filter(
      (s) => s.name === "odd_total",
    );
    expect(sample?.labels.path).toBe(odd);
  });

  test("refuses a metric registered twice and a bad name", () => {
    const metrics = createMetricsRegistry();
    metrics.counter("once_total", "Once.");
    expect(() => metrics.counter("once_total", "Again.")).toThrow("registered twice");
    expect(() => metrics.gauge("bad-name", "Bad.")).toThrow("Bad metric name");
  });
});
