import { expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase } from "../database.ts";
import { migrate } from "../migrations.ts";
import { useTestDatabase } from "../testing/test-environment.ts";

// Each module's runtime connection acts as its own role (DATABASE_ROLE, `SET ROLE`), created by
// its migrations with rights on its own schema only.
const root = join(import.meta.dir, "..", "..");
const db = await useTestDatabase();
for (const schema of ["sales", "orders"]) {
  await migrate(db.sql, { schema, directory: join(root, schema, "migrations") });
}

async function asRole<T>(role: string, query: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = createDatabase(db.url, { name: `as-${role}`, max: 1, role });
  try {
    return await query(sql);
  } finally {
    await sql.end();
  }
}

function permissionDenied(error: unknown): boolean {
  return error instanceof postgres.PostgresError && error.code === "42501";
}

test.each([
  ["orders", "sales.products"],
  ["orders", "sales.outbox_messages"],
  ["sales", "orders.inbox_messages"],
  ["sales", "orders.product_cache"],
])("the %s role cannot read %s", async (role, table) => {
  const outcome = await asRole(role, (sql) => sql.unsafe(`select * from ${table} limit 1`)).catch(
    (e) => e,
  );
  expect(permissionDenied(outcome)).toBe(true);
});

test.each([
  ["sales", "sales.products"],
  ["sales", "sales.outbox_messages"],
  ["orders", "orders.inbox_messages"],
  ["orders", "orders.product_cache"],
])("the %s role works with its own %s", async (role, table) => {
  const rows = await asRole(role, (sql) =>
    sql.unsafe(`select count(*)::int as count from ${table}`),
  );
  expect(rows).toEqual([{ count: 0 }] as never);
});
