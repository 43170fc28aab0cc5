import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { MODULES } from "../architecture.ts";
import { runScriptProcess } from "../testing/script-process.ts";
import { useTestDatabase, waitFor } from "../testing/test-environment.ts";

const ROOT = join(import.meta.dir, "..", "..");
const database = await useTestDatabase();
const migrate = (...args: string[]) =>
  runScriptProcess("run", ["migrate", ...args], { DATABASE_URL: database.url });
const schemas = async () =>
  (
    await database.sql<{ name: string }[]>`
      select schema_name as name from information_schema.schemata
      where schema_name = any(${[...MODULES]}) order by schema_name`
  ).map((row) => row.name);

test("bun run migrate --help answers with its usage and migrates nothing", async () => {
  const result = await migrate("--help");
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("Usage: bun run migrate");
  expect(await schemas()).toEqual([]);
});

test("bun run migrate says whom it waits for, and a SIGTERM stops the migration in hand", async () => {
  const sessions = () => database.sql<{ pid: number }[]>`
    select pid from pg_stat_activity
    where datname = current_database() and application_name = 'sales-migrate'`;
  await database.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('migrations:sales'))`;
    const runner = Bun.spawn([process.execPath, "run", "migrate"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    const reading = (async () => {
      for await (const chunk of runner.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
    })();
    const [own] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await waitFor(() => stderr.includes("waiting"), { message: "the waiting line" });
    expect(stderr).toContain(
      `sales: waiting for another migration of schema sales, held by pid ${own?.pid}`,
    );
    runner.kill("SIGTERM");
    expect(await runner.exited).not.toBe(0);
    await reading;
  });
  // Its `bun sales/migrate.ts` went with it, rather than wait on for the lock and migrate
  // unwatched: its session ends as soon as the lock is free, having done nothing.
  await waitFor(async () => (await sessions()).length === 0, {
    message: "the migration's session to end",
  });
  expect(await schemas()).toEqual([]);
});

test("bun run migrate applies every module's migrations once, in turn", async () => {
  const first = await migrate("--json");
  expect(first.code).toBe(0);
  const applied = first.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  expect(applied.map((result) => result.schema)).toEqual([...MODULES]);
  for (const result of applied) {
    const files = readdirSync(join(ROOT, result.schema, "migrations")).filter((file) =>
      file.endsWith(".sql"),
    );
    expect(result.applied).toEqual(files.sort());
  }
  expect(await schemas()).toEqual([...MODULES].sort());

  const again = await migrate();
  expect(again.code).toBe(0);
  expect(again.stdout).toBe(MODULES.map((module) => `${module}: up to date\n`).join(""));
});
