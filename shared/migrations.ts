import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { retryDelayMs } from "./backoff.ts";
import { closeDatabase, createDatabase, isLockTimeout, type Sql } from "./database.ts";

const MIGRATION_FILE = /^(\d{4})_[\w-]+\.sql$/;

export type MigrationResult = { schema: string; applied: string[] };

export type MigrateOptions = {
  /**
   * How long a statement waits for a table lock before the run rolls back and tries again.
   * Without a limit, an `alter table` queued behind a long transaction (a forgotten `psql`
   * session) would hold up every query on that table for as long as it waits.
   */
  lockTimeoutMs?: number;
  attempts?: number;
};

/**
 * Applies the numbered `.sql` files in `directory` (e.g. `0001_products.sql`) that `schema`
 * has not recorded yet, in order, in one transaction, and records each in
 * `<schema>.schema_migrations`. An advisory lock per schema makes concurrent runners wait
 * for each other, so two processes starting at once apply each file exactly once.
 */
export async function migrate(
  sql: Sql,
  { schema, directory }: { schema: string; directory: string },
  { lockTimeoutMs = 5_000, attempts = 5 }: MigrateOptions = {},
): Promise<MigrationResult> {
  const files = (await readdir(directory)).filter((file) => MIGRATION_FILE.test(file)).sort();
  assertUniqueVersions(files);

  for (let attempt = 1; ; attempt++) {
    let current = "";
    try {
      const applied = await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtext(${`migrations:${schema}`}))`;
        // After the advisory lock: a runner waits as long as it takes for the one before it.
        await tx`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`;
        await tx`create schema if not exists ${tx(schema)}`;
        await tx`
          create table if not exists ${tx(schema)}.schema_migrations (
            version int primary key,
            name text not null,
            applied_at timestamptz not null default now()
          )`;
        const done = new Set(
          (
            await tx<{ version: number }[]>`select version from ${tx(schema)}.schema_migrations`
          ).map((row) => row.version),
        );
        const pending = files.filter((file) => !done.has(versionOf(file)));
        for (const file of pending) {
          current = file;
          await tx.unsafe(await Bun.file(join(directory, file)).text());
          await tx`
            insert into ${tx(schema)}.schema_migrations (version, name)
            values (${versionOf(file)}, ${file})`;
        }
        return pending;
      });
      return { schema, applied };
    } catch (error) {
      if (!isLockTimeout(error)) throw error;
      if (attempt >= attempts) {
        throw new Error(
          `Migration ${current || `of schema ${schema}`} waited over ${lockTimeoutMs} ms for a lock, ${attempts} times: a long transaction holds a table it changes (see pg_locks); end it and start again`,
          { cause: error },
        );
      }
      await Bun.sleep(retryDelayMs(attempt, { capMs: 5_000 }));
    }
  }
}

function versionOf(file: string): number {
  return Number(MIGRATION_FILE.exec(file)?.[1]);
}

function assertUniqueVersions(files: string[]) {
  const seen = new Map<number, string>();
  for (const file of files) {
    const other = seen.get(versionOf(file));
    if (other)
      throw new Error(`Two migrations share version ${versionOf(file)}: ${other}, ${file}`);
    seen.set(versionOf(file), file);
  }
}

/** `migrate` over a connection of its own to `url` (the admin connection), closed afterwards. */
export async function migrateDatabase(
  url: string,
  migrations: { schema: string; directory: string },
  options?: MigrateOptions,
): Promise<MigrationResult> {
  const admin = createDatabase(url, { name: `${migrations.schema}-migrate`, max: 1 });
  try {
    return await migrate(admin, migrations, options);
  } finally {
    await closeDatabase(admin);
  }
}
