import { expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { MODULES } from "../architecture.ts";
import { createDatabase } from "../database.ts";
import { migrate } from "../migrations.ts";
import { createServiceProcess, startServiceProcess } from "../processes/service-process.ts";
import { afterTests } from "../testing/cleanup.ts";
import { deleteStreams } from "../testing/stream-messages.ts";
import { testEnv, uniqueId, useTestDatabase } from "../testing/test-environment.ts";

// Each module's runtime connection acts as its own role (DATABASE_ROLE, `SET ROLE`), created by
// its migrations with rights on its own schema only. Module, schema and role share one name.
const root = join(import.meta.dir, "..", "..");
const db = await useTestDatabase();
for (const schema of MODULES) {
  await migrate(db.sql, { schema, directory: join(root, schema, "migrations") });
}
const tables = await db.sql<{ schema: string; name: string }[]>`
  select table_schema as schema, table_name as name from information_schema.tables
  where table_schema in ${db.sql(MODULES)} order by 1, 2`;
const tablesOf = (schema: string) =>
  tables.filter((table) => table.schema === schema).map((table) => `${schema}.${table.name}`);

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

// A module whose role or schema is named otherwise fails here, rather than being left out below.
test.each(MODULES)("the %s role exists, with usage on its own schema only", async (role) => {
  const [row] = await db.sql`select exists (select from pg_roles where rolname = ${role})`;
  expect({ role, exists: row?.exists }).toEqual({ role, exists: true });
  const usage = await db.sql<{ schema: string }[]>`
    select nspname as schema from pg_namespace where has_schema_privilege(${role}, oid, 'usage')
    and nspname in ${db.sql(MODULES)}`;
  expect(usage.map(({ schema }) => schema)).toEqual([role]);
});

test.each(
  MODULES.flatMap((role) =>
    MODULES.filter((other) => other !== role).flatMap((other) =>
      tablesOf(other).map((table) => [role, table]),
    ),
  ),
)("the %s role cannot read %s", async (role, table) => {
  const outcome = await asRole(role, (sql) => sql.unsafe(`select * from ${table} limit 1`)).catch(
    (e) => e,
  );
  expect(permissionDenied(outcome)).toBe(true);
});

test.each(MODULES.flatMap((role) => tablesOf(role).map((table) => [role, table])))(
  "the %s role reads its own %s",
  async (role, table) => {
    const rows = await asRole(role, (sql) =>
      sql.unsafe(`select count(*)::int as count from ${table}`),
    );
    expect(rows).toHaveLength(1);
  },
);

test.each(MODULES)(
  "the %s role reads its record of migrations but cannot change it",
  async (role) => {
    const applied = await asRole(role, (sql) =>
      sql.unsafe(`select count(*)::int as count from ${role}.schema_migrations`),
    );
    expect((applied[0] as unknown as { count: number }).count).toBeGreaterThan(0);
    for (const statement of [
      `delete from ${role}.schema_migrations`,
      `update ${role}.schema_migrations set name = name`,
      `insert into ${role}.schema_migrations (version, name) values (9999, 'x')`,
      `truncate ${role}.schema_migrations`,
    ]) {
      const outcome = await asRole(role, (sql) => sql.unsafe(statement)).catch((e) => e);
      expect(permissionDenied(outcome)).toBe(true);
    }
  },
);

// SET ROLE alone is a convention: a session may RESET ROLE back to its login. A login of the
// module's own, a member of its role only, makes the boundary Postgres' (README, "A login per
// module").
const salesLogin = `sales_login_${uniqueId()}`;
await db.sql.unsafe(`create role ${salesLogin} login in role sales`);
afterTests(async () => {
  const admin = createDatabase(testEnv.DATABASE_URL, { name: "test-admin", max: 1 });
  await admin.unsafe(`drop role if exists ${salesLogin}`);
  await admin.end();
});
const salesLoginUrl = Object.assign(new URL(db.url), { username: salesLogin }).toString();

test("a login of Sales' own cannot leave the sales role for another", async () => {
  const sql = createDatabase(salesLoginUrl, { name: "sales-login", max: 1, role: "sales" });
  try {
    const reset = await sql
      .begin(async (tx) => {
        await tx`reset role`;
        return tx`select * from orders.inbox_messages limit 1`;
      })
      .catch((e) => e);
    expect(permissionDenied(reset)).toBe(true);
    const other = await sql`set role orders`.catch((e) => e);
    expect(permissionDenied(other)).toBe(true);
    expect(await sql`select count(*)::int as count from sales.products`).toEqual([
      { count: 0 },
    ] as never);
  } finally {
    await sql.end();
  }
});

test("Sales runs on such a login without migrating at start", async () => {
  const namespace = `t${uniqueId()}`;
  const sales = await startServiceProcess({
    name: "sales",
    entry: "sales/main.ts",
    env: {
      DATABASE_URL: salesLoginUrl,
      MIGRATE_ON_START: "false",
      NATS_URL: testEnv.NATS_URL,
      NATS_NAMESPACE: namespace,
    },
  });
  try {
    const response = await fetch(`${sales.url}/products`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        sku: "LOGIN-1",
        name: "Mug",
        price: { amount: 100, currency: "EUR" },
      }),
    });
    expect(response.status).toBe(201);
    expect(await db.sql`select count(*)::int as count from sales.outbox_messages`).toEqual([
      { count: 1 },
    ] as never);
  } finally {
    await sales.stop();
    await deleteStreams(testEnv.NATS_URL, [`${namespace}_SALES`]);
  }
});

test("Sales started on such a login that is told to migrate says what to do instead", async () => {
  const sales = await createServiceProcess({
    name: "sales",
    entry: "sales/main.ts",
    env: {
      DATABASE_URL: salesLoginUrl,
      NATS_URL: testEnv.NATS_URL,
      NATS_NAMESPACE: `t${uniqueId()}`,
    },
  });
  try {
    await expect(sales.start()).rejects.toThrow("exited with 1");
    const fatal = sales.logs.find((line) => line.level === "fatal");
    expect(String(fatal?.err)).toContain(
      "DATABASE_URL's user may not migrate schema sales (permission denied for database",
    );
    expect(String(fatal?.err)).toContain("start this process with MIGRATE_ON_START=false");
    // Said as a failed start, not as an error nothing caught.
    expect(String(fatal?.msg)).toStartWith("sales: cannot start: DATABASE_URL's user may not");
  } finally {
    await sales.stop("SIGKILL");
  }
});
