import { resolve } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { databaseUrlVariable, natsUrlVariable, parseEnv } from "../env.ts";

/** What one benchmark run measures, and where. */
export type BenchOptions = {
  /** Backlog size for the relay, intake and apply phases, and messages per raw probe. */
  events: number;
  /** Transactions (raw write) and HTTP requests (end to end) in flight. */
  concurrency: number;
  /** Publishes in flight in the raw JetStream publish probe. */
  publishWindow: number;
  /** Seconds of full-speed writes through Sales' HTTP API. */
  durationS: number;
  /** Seconds of writes at 25 % of the measured maximum, for the latency figures. */
  latencyDurationS: number;
  /**
   * Writes a second for the latency figures instead of 25 % of the maximum, e.g. 20 to see the
   * floor an all but idle machine sets; the latency target is then not judged.
   */
  latencyRatePerS: number | undefined;
  /** Whole runs in a row, each in a database and namespace of its own; reported as medians. */
  runs: number;
  /** Where Sales and Orders write a CPU profile each time they stop; none when undefined. */
  cpuProfileDirectory: string | undefined;
  databaseUrl: string;
  natsUrl: string;
};

export const BENCH_USAGE = `bun run bench [options]

Measures raw Postgres/JetStream baselines and the Sales → Orders pipeline in one run, in a
database and NATS namespace of its own (both removed afterwards). Prints a table, then one JSON
line with every figure. Postgres and NATS come from DATABASE_URL and NATS_URL.

  -n, --events <n>            backlog size for relay, intake and apply; messages per raw
                              probe (default 50000)
  -c, --concurrency <n>       write transactions / HTTP requests in flight (default 16)
  -w, --publish-window <n>    publishes in flight in the raw publish probe (default 256)
  -d, --duration <s>          seconds of full-speed writes through Sales' API (default 15)
  -l, --latency-duration <s>  seconds of writes at 25 % of the maximum rate (default 10)
      --latency-rate <n>      writes a second for the latency instead of 25 % of the
                              maximum, e.g. 20 for the floor of an all but idle machine
                              (the latency target is then not judged)
  -r, --runs <n>              whole runs in a row; the report gives each figure's median,
                              its range and how many runs met each target (default 1)
      --cpu-prof <dir>        write a CPU profile of Sales and Orders each time one stops,
                              to <dir>/<run id>/sales/ and …/orders/ (open them in Chrome
                              DevTools or speedscope); profiling slows them, so compare
                              such a run's figures only with another profiled one
  -h, --help                  this text`;

const count = (name: string, min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, `--${name} must be a whole number`),
    v.transform(Number),
    v.minValue(min, `--${name} must be at least ${min}`),
    v.maxValue(max, `--${name} must be at most ${max}`),
  );

const seconds = (name: string) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+(\.\d+)?$/, `--${name} must be a number of seconds`),
    v.transform(Number),
    v.minValue(0.5, `--${name} must be at least 0.5`),
    v.maxValue(3600, `--${name} must be at most 3600`),
  );

const Flags = v.object({
  events: v.optional(count("events", 10, 10_000_000), "50000"),
  concurrency: v.optional(count("concurrency", 1, 64), "16"),
  "publish-window": v.optional(count("publish-window", 1, 100_000), "256"),
  duration: v.optional(seconds("duration"), "15"),
  "latency-duration": v.optional(seconds("latency-duration"), "10"),
  "latency-rate": v.optional(count("latency-rate", 1, 100_000)),
  runs: v.optional(count("runs", 1, 20), "1"),
  "cpu-prof": v.optional(v.pipe(v.string(), v.nonEmpty("--cpu-prof needs a directory"))),
});

const BenchEnv = v.object({ DATABASE_URL: databaseUrlVariable, NATS_URL: natsUrlVariable });

/** Thrown for a bad flag or variable: the message is the one line to show. */
export class BenchUsageError extends Error {
  override readonly name = "BenchUsageError";
}

/** Reads the flags and the environment; `"help"` when `--help` was asked for. */
export function parseBenchOptions(
  argv: string[],
  environment: Record<string, string | undefined>,
): BenchOptions | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        events: { type: "string", short: "n" },
        concurrency: { type: "string", short: "c" },
        "publish-window": { type: "string", short: "w" },
        duration: { type: "string", short: "d" },
        "latency-duration": { type: "string", short: "l" },
        "latency-rate": { type: "string" },
        runs: { type: "string", short: "r" },
        "cpu-prof": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
  if (values.help) return "help";
  const { help: _help, ...given } = values;
  const flags = v.safeParse(Flags, given);
  if (!flags.success) throw new BenchUsageError(flags.issues[0]?.message ?? "bad options");
  let env: v.InferOutput<typeof BenchEnv>;
  try {
    env = parseEnv(BenchEnv, environment);
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
  return {
    events: flags.output.events,
    concurrency: flags.output.concurrency,
    publishWindow: flags.output["publish-window"],
    durationS: flags.output.duration,
    latencyDurationS: flags.output["latency-duration"],
    latencyRatePerS: flags.output["latency-rate"],
    runs: flags.output.runs,
    // The services run from the repository root, not from here.
    cpuProfileDirectory: flags.output["cpu-prof"] && resolve(flags.output["cpu-prof"]),
    databaseUrl: env.DATABASE_URL,
    natsUrl: env.NATS_URL,
  };
}
