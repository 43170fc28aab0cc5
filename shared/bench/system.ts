import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { closeDatabase, createDatabase, type Sql } from "../database.ts";
import { migrateDatabase } from "../migrations.ts";
import { connectNats, natsNames, streamInfo } from "../nats.ts";
import { createServiceProcess, type ServiceProcess } from "../processes/service-process.ts";

const REPOSITORY_ROOT = join(import.meta.dir, "..", "..");

/** The stream of the raw JetStream probes, inside the run's namespace. */
export const PROBE_STREAM = "PROBE";

/** One module's process, with the highest peak RSS any of its runs reached. */
export type BenchService = {
  readonly process: ServiceProcess;
  /** Starts (or restarts) the process and waits until `/ready` answers 200. */
  start(): Promise<void>;
  /** SIGTERM, after noting the run's peak RSS. */
  stop(): Promise<void>;
  /** Peak resident set (VmHWM) over every start so far, in MB of 10^6 bytes. */
  peakRssMb(): number;
};

export type BenchSystem = {
  readonly id: string;
  readonly databaseName: string;
  readonly namespace: string;
  readonly databaseUrl: string;
  readonly natsUrl: string;
  /** Admin connection to the benchmark's database: it reaches both schemas. */
  readonly sql: Sql;
  readonly names: ReturnType<typeof natsNames>;
  readonly salesStream: string;
  readonly logDirectory: string;
  service(name: "sales" | "orders"): BenchService;
  /** Stops the processes, deletes the streams and drops the database. */
  dispose(options?: { keepLogs?: boolean }): Promise<void>;
};

/** Where a run lives: its id names its database (`bench_<id>`) and NATS namespace (`b<id>`). */
export type BenchPlace = { databaseUrl: string; natsUrl: string; id: string };

export function newBenchPlace({
  databaseUrl,
  natsUrl,
}: {
  databaseUrl: string;
  natsUrl: string;
}): BenchPlace {
  return { databaseUrl, natsUrl, id: crypto.randomUUID().replaceAll("-", "").slice(0, 10) };
}

/**
 * Deletes a run's streams and drops its database, whatever of them exists, each tried even when
 * the other fails (NATS down, say). Safe before the run has made anything.
 */
export async function removeBenchPlace({ databaseUrl: adminUrl, natsUrl, id }: BenchPlace) {
  const names = natsNames(`b${id}`);
  const failures: unknown[] = [];
  try {
    const nc = await connectNats(natsUrl, "bench-cleanup");
    try {
      const jsm = await jetstreamManager(nc);
      for (const stream of [names.stream("SALES"), names.stream(PROBE_STREAM)]) {
        if (await streamInfo(jsm, stream)) await jsm.streams.delete(stream);
      }
    } finally {
      await nc.close();
    }
  } catch (error) {
    failures.push(error);
  }
  const dropper = createDatabase(adminUrl, { name: "bench-admin", max: 1 });
  try {
    await dropper.unsafe(`drop database if exists bench_${id} with (force)`);
  } catch (error) {
    failures.push(error);
  } finally {
    await closeDatabase(dropper);
  }
  if (failures.length > 0) throw new AggregateError(failures, "bench cleanup failed");
}

/**
 * A database (`bench_<id>`, both schemas migrated) and a NATS namespace (`b<id>`) of the run's
 * own, and Sales and Orders as real processes on them (`bun sales/main.ts`, `bun orders/main.ts`)
 * with their production defaults, logging to files as they would to a log shipper.
 */
export async function createBenchSystem(
  place: BenchPlace,
  { cpuProfileDirectory }: { cpuProfileDirectory?: string | undefined } = {},
): Promise<BenchSystem> {
  const { databaseUrl: adminUrl, natsUrl, id } = place;
  const databaseName = `bench_${id}`;
  const namespace = `b${id}`;
  const names = natsNames(namespace);

  const admin = createDatabase(adminUrl, { name: "bench-admin", max: 1 });
  await admin.unsafe(`create database ${databaseName}`);
  await closeDatabase(admin);
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();
  for (const schema of ["sales", "orders"]) {
    await migrateDatabase(databaseUrl, {
      schema,
      directory: join(REPOSITORY_ROOT, schema, "migrations"),
    });
  }
  const sql = createDatabase(databaseUrl, { name: "bench", max: 4 });
  const logDirectory = mkdtempSync(join(tmpdir(), `bench-${id}-`));

  const services = new Map<string, BenchService>();
  function service(name: "sales" | "orders"): BenchService {
    const existing = services.get(name);
    if (existing) return existing;
    let process: ServiceProcess | undefined;
    let peakKb = 0;
    const created: BenchService = {
      get process() {
        if (!process) throw new Error(`${name} was never started`);
        return process;
      },
      async start() {
        // Held before it starts: a stop meanwhile (Ctrl-C, a failed phase) must reach it.
        process ??= await createServiceProcess({
          name,
          entry: `${name}/main.ts`,
          runtimeFlags: cpuProfileDirectory
            ? ["--cpu-prof", `--cpu-prof-dir=${join(cpuProfileDirectory, id, name)}`]
            : [],
          env: { DATABASE_URL: databaseUrl, NATS_URL: natsUrl, NATS_NAMESPACE: namespace },
          logFile: join(logDirectory, `${name}.log`),
        });
        await process.start();
        await waitUntilReady(process);
      },
      async stop() {
        if (!process?.pid) return;
        peakKb = Math.max(peakKb, peakRssKb(process.pid));
        await process.stop("SIGTERM");
      },
      peakRssMb() {
        const running = process?.pid ? peakRssKb(process.pid) : 0;
        // Megabytes of 10^6 bytes, as the target says, to a tenth: /proc counts in KiB.
        return Math.round((Math.max(peakKb, running) * 1024) / 100_000) / 10;
      },
    };
    services.set(name, created);
    return created;
  }

  return {
    id,
    databaseName,
    namespace,
    databaseUrl,
    natsUrl,
    sql,
    names,
    salesStream: names.stream("SALES"),
    logDirectory,
    service,
    async dispose({ keepLogs = false } = {}) {
      for (const running of services.values()) await running.stop().catch(() => {});
      await closeDatabase(sql).catch(() => {});
      await removeBenchPlace(place);
      if (!keepLogs) rmSync(logDirectory, { recursive: true, force: true });
    },
  };
}

/** Peak resident set size of a live process, in KiB (`VmHWM` in /proc/<pid>/status). */
export function peakRssKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

async function waitUntilReady(process: ServiceProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ready = await fetch(`${process.url}/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return;
    await Bun.sleep(20);
  }
  throw new Error(`${process.name} was not ready within ${timeoutMs} ms`);
}
