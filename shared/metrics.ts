import { errorMessage } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** Label values of one series, by label name. */
export type Labels = Record<string, string>;

export type Counter = {
  /** Adds `by` (default 1) to the series with `labels`. */
  inc(labels?: Labels, by?: number): void;
  /** The current value of one series: for tests and tools. */
  value(labels?: Labels): number;
};

export type Gauge = {
  set(value: number, labels?: Labels): void;
};

export type Histogram = {
  observe(value: number, labels?: Labels): void;
  /** Starts a timer; calling the result observes the seconds since. */
  startTimer(labels?: Labels): (more?: Labels) => number;
};

export type MetricsRegistry = {
  counter(name: string, help: string): Counter;
  gauge(name: string, help: string): Gauge;
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram;
  /**
   * Runs `collect` before every scrape, e.g. to set gauges from the database. While it fails,
   * the gauges it sets are left out of the page and `metrics_collector_failures_total` counts.
   */
  onScrape(name: string, collect: () => Promise<void> | void): void;
  /** The page `GET /metrics` serves, in the Prometheus text format 0.0.4. */
  render(): Promise<string>;
};

/** The Content-Type of `render()`'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Prometheus' default buckets, in seconds: 5 ms to 10 s. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

type Family = {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  /** Series by their label key, in the order they first appeared. */
  lines(): string[];
};

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * An in-memory metrics registry: counters and histograms are plain numbers updated in place
 * (cheap enough for every message), gauges are set at scrape time by `onScrape` collectors.
 */
export function createMetricsRegistry({
  log,
}: {
  /** Where a failing collector is reported, besides `metrics_collector_failures_total`. */
  log?: Pick<Logger, "warn">;
} = {}): MetricsRegistry {
  const families = new Map<string, Family>();
  const collectors: { name: string; collect: () => Promise<void> | void }[] = [];
  const gauges: Map<string, { labels: Labels; value: number }>[] = [];

  function register(family: Family) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`Bad metric name ${family.name}`);
    if (families.has(family.name)) throw new Error(`Metric ${family.name} registered twice`);
    families.set(family.name, family);
  }

  const registry: MetricsRegistry = {
    counter(name, help) {
      const series = new Map<string, { labels: Labels; value: number }>();
      register({
        name,
        help,
        type: "counter",
        lines: () =>
          series.size === 0
            ? [`${name} 0`]
            : [...series.values()].map((s) => `${name}${labelText(s.labels)} ${num(s.value)}`),
      });
      return {
        inc(labels = {}, by = 1) {
          const key = labelKey(labels);
          const current = series.get(key);
          if (current) current.value += by;
          else series.set(key, { labels, value: by });
        },
        value: (labels = {}) => series.get(labelKey(labels))?.value ?? 0,
      };
    },

    gauge(name, help) {
      const series = new Map<string, { labels: Labels; value: number }>();
      gauges.push(series);
      register({
        name,
        help,
        type: "gauge",
        lines: () =>
          [...series.values()].map((s) => `${name}${labelText(s.labels)} ${num(s.value)}`),
      });
      return {
        set(value, labels = {}) {
          series.set(labelKey(labels), { labels, value });
        },
      };
    },

    histogram(name, help, buckets = DEFAULT_BUCKETS) {
      const bounds = [...buckets].sort((a, b) => a - b);
      type Series = { labels: Labels; counts: number[]; sum: number; count: number };
      const series = new Map<string, Series>();
      register({
        name,
        help,
        type: "histogram",
        lines: () =>
          [...series.values()].flatMap((s) => {
            let cumulative = 0;
            const bucketLines = bounds.map((bound, index) => {
              cumulative += s.counts[index] ?? 0;
              return `${name}_bucket${labelText({ ...s.labels, le: num(bound) })} ${cumulative}`;
            });
            return [
              ...bucketLines,
              `${name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`,
              `${name}_sum${labelText(s.labels)} ${num(s.sum)}`,
              `${name}_count${labelText(s.labels)} ${s.count}`,
            ];
          }),
      });
      const observe = (value: number, labels: Labels = {}) => {
        const key = labelKey(labels);
        let current = series.get(key);
        if (!current) {
          current = { labels, counts: bounds.map(() => 0), sum: 0, count: 0 };
          series.set(key, current);
        }
        const index = bounds.findIndex((bound) => value <= bound);
        if (index >= 0) current.counts[index] = (current.counts[index] ?? 0) + 1;
        current.sum += value;
        current.count += 1;
      };
      return {
        observe,
        startTimer(labels = {}) {
          const started = performance.now();
          return (more = {}) => {
            const seconds = (performance.now() - started) / 1000;
            observe(seconds, { ...labels, ...more });
            return seconds;
          };
        },
      };
    },

    onScrape(name, collect) {
      collectors.push({ name, collect });
    },

    async render() {
      for (const series of gauges) series.clear();
      await Promise.all(
        collectors.map(async ({ name, collect }) => {
          try {
            await collect();
          } catch (error) {
            collectorFailures.inc({ collector: name });
            log?.warn({ collector: name, err: errorMessage(error) }, "metrics collector failed");
          }
        }),
      );
      const text: string[] = [];
      for (const family of families.values()) {
        const lines = family.lines();
        text.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
        text.push(`# TYPE ${family.name} ${family.type}`);
        text.push(...lines);
      }
      return `${text.join("\n")}\n`;
    },
  };

  const collectorFailures = registry.counter(
    "metrics_collector_failures_total",
    "Scrapes in which a collector (e.g. a database query for gauges) failed.",
  );
  return registry;
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}\u0000${labels[key]}`)
    .join("\u0001");
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  for (const [key] of entries) if (!LABEL_NAME.test(key)) throw new Error(`Bad label name ${key}`);
  return `{${entries.map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(",")}}`;
}

const escapeLabel = (value: string) =>
  value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
const escapeHelp = (value: string) => value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");

function num(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
