import { expect, test } from "bun:test";
import { runScriptProcess } from "../testing/script-process.ts";
import { useTestDatabase } from "../testing/test-environment.ts";

const database = await useTestDatabase();
const migrate = (...args: string[]) =>
  runScriptProcess("run", ["migrate", ...args], { DATABASE_URL: database.url });
const schemas = async () =>
  (
    await database.sql<{ name: string }[]>`
      select schema_name as name from information_schema.schemata
      where schema_name in ('sales', 'orders') order by schema_name`
  ).map((row) => row.name);

test("bun run migrate --help answers with its usage and migrates nothing", async () => {
  const result = await migrate("--help");
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("Usage: bun run migrate");
  expect(await schemas()).toEqual([]);
});

test("bun run migrate applies both schemas' migrations once", async () => {
  const first = await migrate("--json");
  expect(first.code).toBe(0);
  const applied = first.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  expect(applied.map((result) => result.schema)).toEqual(["sales", "orders"]);
  for (const result of applied)
    expect(result.applied).toContain(
      `0001_${result.schema === "sales" ? "products" : "inbox_messages"}.sql`,
    );
  expect(await schemas()).toEqual(["orders", "sales"]);

  const again = await migrate();
  expect(again.code).toBe(0);
  expect(again.stdout).toBe("sales: up to date\norders: up to date\n");
});
