import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { MODULES } from "../architecture.ts";
import { runScriptProcess } from "../testing/script-process.ts";
import { useTestDatabase } from "../testing/test-environment.ts";

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
