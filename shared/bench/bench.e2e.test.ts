import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { closeDatabase, createDatabase } from "../database.ts";
import { connectNats, natsNames, streamInfo } from "../nats.ts";
import { testEnv, useIntegrationTimeout } from "../testing/test-environment.ts";
import type { BenchReport } from "./report.ts";

// It starts processes (or compiles schemas): more than 5 s on a loaded machine.
useIntegrationTimeout();

const ROOT = join(import.meta.dir, "..", "..");

async function bench(...args: string[]) {
  const child = Bun.spawn([process.execPath, "shared/bench/main.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: testEnv.DATABASE_URL, NATS_URL: testEnv.NATS_URL },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { stdout, stderr, code };
}

// The benchmark itself is not run in CI; this runs it tiny so that it cannot rot.
test("bun run bench, tiny, prints a JSON line with every figure, profiles on request and cleans up", async () => {
  const profiles = mkdtempSync(join(tmpdir(), "bench-profiles-"));
  const run = await bench(
    "--events",
    "200",
    "--duration",
    "1",
    "--latency-duration",
    "1",
    "--cpu-prof",
    profiles,
  );
  expect(run.stderr).not.toContain("bench failed");
  expect(run.code).toBe(0);
  const lines = run.stdout.trim().split("\n");
  const report = JSON.parse(lines.at(-1) ?? "") as BenchReport;
  expect(lines.some((line) => line.startsWith("end to end"))).toBe(true);

  const rates = [
    "raw_write_per_s",
    "raw_publish_per_s",
    "raw_consume_per_s",
    "e2e_per_s",
    "relay_per_s",
    "intake_per_s",
    "apply_per_s",
  ] as const;
  for (const key of rates) {
    expect(Number.isFinite(report[key])).toBe(true);
    expect(report[key]).toBeGreaterThan(0);
  }
  for (const key of ["e2e_ratio", "relay_ratio", "intake_ratio"] as const) {
    expect(report[key]).toBeGreaterThan(0);
    expect(Number.isFinite(report[key])).toBe(true);
  }
  const { p50, p95, p99, max } = report.latency_ms;
  expect(p50).toBeGreaterThan(0);
  expect(p50 <= p95 && p95 <= p99 && p99 <= max).toBe(true);
  expect(report.latency_ms.count).toBeGreaterThan(0);
  const legs = Object.values(report.latency_stages_ms);
  expect(legs).toHaveLength(3);
  for (const leg of legs) {
    expect(Number.isFinite(leg.p50) && Number.isFinite(leg.p99)).toBe(true);
    expect(leg.p50).toBeLessThanOrEqual(leg.p99);
  }
  for (const service of ["sales", "orders"] as const) {
    expect(report.rss_mb[service]).toBeGreaterThan(0);
    expect(report.rss_mb[service]).toBeLessThan(16_384);
  }
  // Every event written (the 200 of the backlog and each one sent over HTTP) was applied once.
  expect(report.events_checked).toBeGreaterThan(200);
  // The test database's role is a superuser: each phase started from a checkpoint.
  expect(report.checkpointed_between_phases).toBe(true);
  expect(typeof report.e2e_lag_grows).toBe("boolean");
  expect(Object.keys(report.e2e_cpu_us_per_event).sort()).toEqual(
    ["bench", "nats", "orders", "postgres", "sales"].sort(),
  );
  expect(report.e2e_cpu_us_per_event.sales).toBeGreaterThan(0);
  expect(report.e2e_machine_busy_pct).toBeGreaterThan(0);
  // Read from Sales' /metrics: every committed write transaction carried at least one creation.
  expect(report.e2e_use_cases_per_write_transaction).toBeGreaterThanOrEqual(1);
  expect(Object.keys(report.targets_met).sort()).toEqual(
    ["apply", "e2e", "intake", "lag", "latency", "relay", "rss"].sort(),
  );

  // Each process wrote a CPU profile as it stopped, in the run's folder.
  expect(report.options.cpu_prof).toBe(profiles);
  for (const service of ["sales", "orders"]) {
    const folder = join(profiles, report.database.replace(/^bench_/, ""), service);
    const written = readdirSync(folder).filter((file) => file.endsWith(".cpuprofile"));
    expect(written.length).toBeGreaterThan(0);
    for (const file of written) {
      const profile = JSON.parse(readFileSync(join(folder, file), "utf8"));
      expect(profile.nodes.length).toBeGreaterThan(0);
    }
  }
  rmSync(profiles, { recursive: true, force: true });

  const admin = createDatabase(testEnv.DATABASE_URL, { name: "bench-smoke", max: 1 });
  const databases = await admin`select 1 from pg_database where datname = ${report.database}`;
  await closeDatabase(admin);
  expect(databases.length).toBe(0);
  const nc = await connectNats(testEnv.NATS_URL);
  const jsm = await jetstreamManager(nc);
  const names = natsNames(report.nats_namespace);
  expect(await streamInfo(jsm, names.stream("SALES"))).toBeUndefined();
  expect(await streamInfo(jsm, names.stream("PROBE"))).toBeUndefined();
  await nc.close();
}, 60_000); // a whole run, tiny: about 5 s here, more on a busy machine

test("bun run bench --help describes the flags; a bad flag is refused", async () => {
  const help = await bench("--help");
  expect(help.code).toBe(0);
  for (const flag of [
    "--events",
    "--concurrency",
    "--publish-window",
    "--duration",
    "--cpu-prof",
  ]) {
    expect(help.stdout).toContain(flag);
  }
  const bad = await bench("--events", "many");
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--events must be a whole number");
});
