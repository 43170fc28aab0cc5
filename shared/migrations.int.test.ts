import { afterAll, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDatabase } from "./database.ts";
import { migrate, migrateAtStart } from "./migrations.ts";
import { useTestDatabase, waitFor } from "./testing/test-environment.ts";

const db = await useTestDatabase();

const folders: string[] = [];
afterAll(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

async function migrationsFolder(files: Record<string, string>): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "migrations-"));
  folders.push(directory);
  for (const [name, content] of Object.entries(files))
    await writeFile(join(directory, name), content);
  return directory;
}

test("applies pending files in order and records them", async () => {
  const directory = await migrationsFolder({
    "0002_add_column.sql": "alter table inorder.items add column label text not null default 'x';",
    "0001_items.sql": "create table inorder.items (id int primary key);",
    "notes.txt": "not a migration",
  });
  const first = await migrate(db.sql, { schema: "inorder", directory });
  expect(first.applied).toEqual(["0001_items.sql", "0002_add_column.sql"]);
  await db.sql`insert into inorder.items (id) values (1)`;
  expect(await db.sql`select label from inorder.items`).toEqual([{ label: "x" }] as never);

  const second = await migrate(db.sql, { schema: "inorder", directory });
  expect(second.applied).toEqual([]);
});

test("two runners starting at once apply each file exactly once", async () => {
  const directory = await migrationsFolder({
    "0001_counter.sql": `
      create table concurrent.applied (file text);
      insert into concurrent.applied values ('0001');
      select pg_sleep(0.2);`,
    "0002_more.sql": "insert into concurrent.applied values ('0002');",
  });
  const other = createDatabase(db.url, { name: "second-runner", max: 1 });
  const [a, b] = await Promise.all([
    migrate(db.sql, { schema: "concurrent", directory }),
    migrate(other, { schema: "concurrent", directory }),
  ]);
  await other.end();

  expect([...a.applied, ...b.applied].sort()).toEqual(["0001_counter.sql", "0002_more.sql"]);
  expect(await db.sql`select file from concurrent.applied order by file`).toEqual([
    { file: "0001" },
    { file: "0002" },
  ] as never);
  const recorded = await db.sql`select version from concurrent.schema_migrations order by version`;
  expect(recorded.map((row) => row.version)).toEqual([1, 2]);
});

test("a failing file rolls the whole run back", async () => {
  const directory = await migrationsFolder({
    "0001_ok.sql": "create table broken.ok (id int);",
    "0002_bad.sql": "create table broken.ok (id int);",
  });
  await expect(migrate(db.sql, { schema: "broken", directory })).rejects.toThrow(/already exists/);
  const rows = await db.sql`select to_regclass('broken.ok') is not null as exists`;
  expect(rows).toEqual([{ exists: false }] as never);
});

test("refuses two files with the same number", async () => {
  const directory = await migrationsFolder({ "0001_a.sql": "", "0001_b.sql": "" });
  await expect(migrate(db.sql, { schema: "dupes", directory })).rejects.toThrow(/share version 1/);
});

test("a file that waits on a table lock gives up, tries again, and then says what holds it up", async () => {
  const first = await migrationsFolder({ "0001_table.sql": "create table locked.items (id int);" });
  await migrate(db.sql, { schema: "locked", directory: first });
  const second = await migrationsFolder({
    "0001_table.sql": "create table locked.items (id int);",
    "0002_column.sql": "alter table locked.items add column label text;",
  });

  const reader = await db.sql.reserve();
  try {
    await reader`begin`;
    await reader`select * from locked.items`; // holds a lock the alter table waits for
    await expect(
      migrate(db.sql, { schema: "locked", directory: second }, { lockTimeoutMs: 50, attempts: 2 }),
    ).rejects.toThrow(
      "Migration 0002_column.sql waited over 50 ms for a lock, 2 times: a long transaction holds a table it changes",
    );
  } finally {
    await reader`rollback`;
    reader.release();
  }
  const done = await migrate(db.sql, { schema: "locked", directory: second });
  expect(done.applied).toEqual(["0002_column.sql"]);
});

test("a runner that finds another holding the schema's lock says who, then waits for it", async () => {
  const directory = await migrationsFolder({ "0001_t.sql": "create table waiting.t (id int);" });
  const holder = createDatabase(db.url, { name: "lock-holder", max: 1 });
  const waits: string[] = [];
  try {
    const held = await holder.reserve();
    await held`select pg_advisory_lock(hashtext('migrations:waiting'))`;
    const run = migrate(
      db.sql,
      { schema: "waiting", directory },
      { onWaiting: (who) => waits.push(who) },
    );
    await waitFor(() => waits.length > 0, { message: "the runner to say it waits" });
    const [{ pid }] = (await held`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    expect(waits).toEqual([`pid ${pid} (user postgres, application lock-holder)`]);
    await held`select pg_advisory_unlock(hashtext('migrations:waiting'))`;
    expect((await run).applied).toEqual(["0001_t.sql"]);
    held.release();
  } finally {
    await holder.end();
  }
});

test("a runner whose login has a lock_timeout still waits for the one before it", async () => {
  const directory = await migrationsFolder({ "0001_t.sql": "create table patient.t (id int);" });
  const holder = createDatabase(db.url, { name: "lock-holder", max: 1 });
  const impatient = createDatabase(db.url, { name: "impatient", max: 1, lockTimeoutMs: 100 });
  try {
    const held = await holder.reserve();
    await held`select pg_advisory_lock(hashtext('migrations:patient'))`;
    const run = migrate(impatient, { schema: "patient", directory });
    // Well past its lock_timeout, still waiting rather than failed.
    await waitFor(
      async () =>
        (
          await db.sql`
            select 1 from pg_stat_activity
            where application_name = 'impatient' and wait_event_type = 'Lock'
              and now() - query_start > interval '500 milliseconds'`
        ).length === 1,
      { message: "the runner waiting past its lock_timeout" },
    );
    await held`select pg_advisory_unlock(hashtext('migrations:patient'))`;
    expect((await run).applied).toEqual(["0001_t.sql"]);
    held.release();
  } finally {
    await holder.end();
    await impatient.end();
  }
});

test("a process that does not migrate at start refuses a schema that lacks migrations", async () => {
  const directory = await migrationsFolder({
    "0001_a.sql": "create table required.a (id int);",
    "0002_b.sql": "create table required.b (id int);",
  });
  const log = { info: () => {}, warn: () => {} };
  const atStart = (migrateOnStart: boolean) =>
    migrateAtStart(db.sql, {
      url: db.url,
      migrations: { schema: "required", directory },
      migrateOnStart,
      command: "bun required/migrate.ts",
      log,
    });
  await expect(atStart(false)).rejects.toThrow(
    "Schema required lacks 2 migration(s) (0001_a.sql, 0002_b.sql): apply them with `bun required/migrate.ts`",
  );
  await migrate(db.sql, {
    schema: "required",
    directory: await migrationsFolder({ "0001_a.sql": "create table required.a (id int);" }),
  });
  await expect(atStart(false)).rejects.toThrow("lacks 1 migration(s) (0002_b.sql)");
  await atStart(true);
  await atStart(false);
  expect(await db.sql`select to_regclass('required.b')::text as t`).toEqual([
    { t: "required.b" },
  ] as never);
});
