/**
 * `bun run bench`: raw baselines and the Sales → Orders pipeline, measured in one run on the
 * Postgres and NATS at DATABASE_URL / NATS_URL, in a database and namespace of its own. Progress
 * goes to stderr; stdout gets a table and, as its last line, the JSON report.
 */
import { cpus, release, totalmem, type } from "node:os";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Sql } from "../database.ts";
import { connectNats } from "../nats.ts";
import {
  createProbeStream,
  type Measured,
  measureRawConsume,
  measureRawPublish,
  measureRawWrite,
} from "./baselines.ts";
import { BENCH_USAGE, type BenchOptions, BenchUsageError, parseBenchOptions } from "./options.ts";
import {
  checkNothingLost,
  checkpoint,
  holdOutbox,
  measureApply,
  measureIntake,
  measureLatency,
  measureRelayDrain,
  measureSustained,
  vacuumQueues,
} from "./phases.ts";
import { type BenchReport, formatTable, lagGrows, type Machine, targetsMet } from "./report.ts";
import { combineRuns, formatRuns } from "./runs.ts";
import { perSecond, ratio, round } from "./stats.ts";
import {
  type BenchSystem,
  createBenchSystem,
  newBenchPlace,
  PROBE_STREAM,
  removeBenchPlace,
} from "./system.ts";

/** Orders pulls twice its default batch of 500: the raw consumer pulls as much. */
const PULL_SIZE = 1_000;

function progress(message: string) {
  process.stderr.write(`bench | ${message}\n`);
}

async function reportPhase(name: string, run: () => Promise<Measured>): Promise<number> {
  progress(`${name}…`);
  const measured = await run();
  const rate = perSecond(measured.events, measured.ms);
  progress(`${name}: ${measured.events} in ${Math.round(measured.ms)} ms = ${rate}/s`);
  return rate;
}

async function describeMachine(system: BenchSystem): Promise<Machine> {
  const [pg] = await system.sql<{ serverVersion: string }[]>`show server_version`;
  const nc = await connectNats(system.natsUrl, "bench-info");
  const natsVersion = nc.info?.version ?? "unknown";
  await nc.close();
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model.trim() ?? "unknown",
    memory_gb: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    bun: Bun.version,
    postgres: pg?.serverVersion.split(" ")[0] ?? "unknown",
    nats_server: natsVersion,
  };
}

export async function runBench(options: BenchOptions, system: BenchSystem): Promise<BenchReport> {
  const began = performance.now();
  const { events, concurrency } = options;
  const sql: Sql = system.sql;
  // Every timed phase starts from vacuumed queues and a checkpoint (see `vacuumQueues`, `checkpoint`).
  let checkpointed = true;
  const settle = async () => {
    await vacuumQueues(sql); // first: what it writes is part of what the checkpoint writes out
    checkpointed = (await checkpoint(sql)) && checkpointed;
  };
  const phase = async (name: string, run: () => Promise<Measured>) => {
    await settle();
    return reportPhase(name, run);
  };

  const rawWrite = await phase("raw write (product + outbox transaction)", () =>
    measureRawWrite({
      databaseUrl: system.databaseUrl,
      events,
      concurrency,
      label: `${system.id}-raw`,
    }),
  );
  // The rows just written are the relay's backlog: held back until Sales is up and idle.
  await holdOutbox(sql);

  const probe = {
    natsUrl: system.natsUrl,
    stream: system.names.stream(PROBE_STREAM),
    subject: system.names.subject("probe.>"),
  };
  const nc = await connectNats(system.natsUrl, "bench-probe");
  await createProbeStream(await jetstreamManager(nc), probe.stream, probe.subject);
  const rawPublish = await phase(`raw JetStream publish (${options.publishWindow} in flight)`, () =>
    measureRawPublish({
      ...probe,
      subject: system.names.subject("probe.sales.product.created.v1"),
      events,
      window: options.publishWindow,
    }),
  );
  const rawConsume = await phase("raw consume + ack", () =>
    measureRawConsume({ ...probe, events, pullSize: PULL_SIZE }),
  );
  await (await jetstreamManager(nc)).streams.delete(probe.stream);
  await nc.close();

  progress("starting Sales");
  await system.service("sales").start();
  const relay = await phase("outbox relay drain", () => measureRelayDrain(system, events));
  progress("starting Orders");
  const intake = await phase("inbox intake", () => measureIntake(system, events));
  const apply = await phase("inbox apply", () => measureApply(system, events));

  await settle();
  progress(`full-speed writes through Sales' API for ${options.durationS} s…`);
  const sustained = await measureSustained(system, {
    concurrency,
    durationMs: options.durationS * 1000,
  });
  progress(
    `end to end: ${sustained.appliedPerS}/s applied, ${sustained.writtenPerS}/s written, ` +
      `backlog slope ${sustained.lagSlopePerS}/s`,
  );

  const latencyRate = options.latencyRatePerS ?? Math.max(1, Math.round(sustained.appliedPerS / 4));
  await settle();
  progress(`writes at ${latencyRate}/s for ${options.latencyDurationS} s…`);
  const latency = await measureLatency(system, {
    ratePerS: latencyRate,
    durationMs: options.latencyDurationS * 1000,
  });
  progress(`latency: p50 ${latency.latencyMs.p50} ms, p99 ${latency.latencyMs.p99} ms`);

  const checked = await checkNothingLost(sql);
  const rss = {
    sales: system.service("sales").peakRssMb(),
    orders: system.service("orders").peakRssMb(),
  };
  const report: Omit<BenchReport, "targets_met"> = {
    raw_write_per_s: rawWrite,
    raw_publish_per_s: rawPublish,
    raw_consume_per_s: rawConsume,
    e2e_per_s: sustained.appliedPerS,
    e2e_write_per_s: sustained.writtenPerS,
    e2e_ratio: ratio(sustained.appliedPerS, rawWrite),
    e2e_lag_slope_per_s: sustained.lagSlopePerS,
    e2e_lag_max: sustained.lagMax,
    e2e_lag_grows: lagGrows(sustained.lagSlopePerS, sustained.writtenPerS),
    e2e_drain_ms: sustained.drainMs,
    e2e_latency_ms: sustained.latencyMs,
    e2e_cpu_us_per_event: sustained.cpuUsPerEvent,
    e2e_use_cases_per_write_transaction: sustained.useCasesPerWriteTransaction,
    e2e_machine_busy_pct: sustained.machineBusyPct,
    e2e_other_load_pct: sustained.otherLoadPct,
    relay_per_s: relay,
    relay_ratio: ratio(relay, rawPublish),
    intake_per_s: intake,
    intake_ratio: ratio(intake, rawConsume),
    apply_per_s: apply,
    apply_ratio: ratio(apply, sustained.appliedPerS),
    latency_rate_per_s: latency.sentPerS,
    latency_ms: latency.latencyMs,
    latency_stages_ms: latency.stages,
    rss_mb: rss,
    events_checked: checked.events,
    checkpointed_between_phases: checkpointed,
    database: system.databaseName,
    nats_namespace: system.namespace,
    options: {
      events,
      concurrency,
      publish_window: options.publishWindow,
      duration_s: options.durationS,
      latency_duration_s: options.latencyDurationS,
      ...(options.latencyRatePerS && { latency_rate_per_s: options.latencyRatePerS }),
      ...(options.cpuProfileDirectory && { cpu_prof: options.cpuProfileDirectory }),
    },
    machine: await describeMachine(system),
    elapsed_s: round((performance.now() - began) / 1000, 1),
  };
  return { ...report, targets_met: targetsMet(report) };
}

/** One whole run in a database and namespace of its own, removed afterwards; exits on failure. */
async function runInFreshSystem(
  options: BenchOptions,
  onSystem: (dispose: () => Promise<void>) => void,
): Promise<BenchReport> {
  // Cleanup is in place before anything exists: a Ctrl-C or a failed migration leaves nothing.
  const place = newBenchPlace(options);
  onSystem(() => removeBenchPlace(place));
  let system: BenchSystem;
  try {
    system = await createBenchSystem(place, options);
  } catch (error) {
    await removeBenchPlace(place).catch((cleanup) => console.error("cleanup failed:", cleanup));
    throw error;
  }
  progress(`database ${system.databaseName}, NATS namespace ${system.namespace}`);
  let disposed: Promise<void> | undefined;
  const dispose = (keepLogs: boolean) => {
    disposed ??= system.dispose({ keepLogs });
    return disposed;
  };
  onSystem(() => dispose(false));
  try {
    const report = await runBench(options, system);
    await dispose(false);
    return report;
  } catch (error) {
    console.error(`bench failed: ${(error as Error).stack ?? error}`);
    console.error(`process logs kept in ${system.logDirectory}`);
    await dispose(true).catch((cleanup) => console.error("cleanup failed:", cleanup));
    process.exit(1);
  }
}

function summary(report: BenchReport): string {
  return (
    `e2e ${report.e2e_ratio} × raw write, relay ${report.relay_ratio} × raw publish, ` +
    `intake ${report.intake_ratio} × raw consume, apply ${report.apply_per_s}/s, ` +
    `latency p50 ${report.latency_ms.p50} ms p99 ${report.latency_ms.p99} ms`
  );
}

if (import.meta.main) {
  let options: BenchOptions | "help";
  try {
    options = parseBenchOptions(Bun.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`${error.message}\n\n${BENCH_USAGE}`);
    process.exit(2);
  }
  if (options === "help") {
    console.log(BENCH_USAGE);
    process.exit(0);
  }

  let disposeCurrent: () => Promise<void> = async () => {};
  const interrupted = async () => {
    progress("interrupted: cleaning up");
    await disposeCurrent().catch(() => {});
    process.exit(130);
  };
  process.on("SIGINT", () => void interrupted());
  process.on("SIGTERM", () => void interrupted());

  const reports: BenchReport[] = [];
  for (let run = 1; run <= options.runs; run++) {
    if (options.runs > 1) progress(`run ${run} of ${options.runs}`);
    const report = await runInFreshSystem(options, (dispose) => {
      disposeCurrent = dispose;
    });
    if (options.runs > 1) progress(`run ${run}: ${summary(report)}`);
    reports.push(report);
  }
  const [only] = reports;
  if (only && reports.length === 1) {
    console.log(formatTable(only));
    console.log(JSON.stringify(only));
  } else {
    const combined = combineRuns(reports);
    console.log(formatRuns(combined));
    console.log(JSON.stringify(combined));
  }
}
