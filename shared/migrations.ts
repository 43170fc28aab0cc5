import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { retryDelayMs } from "./backoff.ts";
import {
  closeDatabase,
  createDatabase,
  isLockTimeout,
  type Sql,
  type Transaction,
} from "./database.ts";
import { errorMessage } from "./errors.ts";
import type { Logger } from "./logger.ts";

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
  /**
   * Told when another session holds this schema's migration lock, before waiting for it (as
   * long as it takes: another instance may be building an index). Names that session.
   */
  onWaiting?: (holder: string) => void;
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
  { lockTimeoutMs = 5_000, attempts = 5, onWaiting }: MigrateOptions = {},
): Promise<MigrationResult> {
  const files = await migrationFiles(directory);

  for (let attempt = 1; ; attempt++) {
    let current = "";
    try {
      const applied = await sql.begin(async (tx) => {
        const lock = `migrations:${schema}`;
        const [free] = await tx<{ taken: boolean }[]>`
          select pg_try_advisory_xact_lock(hashtext(${lock})) as taken`;
        if (!free?.taken) {
          onWaiting?.(await lockHolder(tx, lock));
          // As long as it takes, whatever lock_timeout the login or database comes with.
          await tx`select set_config('lock_timeout', '0', true)`;
          await tx`select pg_advisory_xact_lock(hashtext(${lock}))`;
        }
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

/** Who holds an advisory lock, as `pg_stat_activity` tells: enough to find the session. */
async function lockHolder(tx: Transaction, lock: string): Promise<string> {
  const [holder] = await tx<{ pid: number; user: string; application: string }[]>`
    select a.pid, a.usename as user, a.application_name as application
    from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted and l.objsubid = 1
      and l.database = (select oid from pg_database where datname = current_database())
      and l.classid = ((hashtext(${lock})::bigint >> 32) & 4294967295)::oid
      and l.objid = (hashtext(${lock})::bigint & 4294967295)::oid
    limit 1`;
  if (!holder) return "a session that has just let go";
  const application = holder.application ? `, application ${holder.application}` : "";
  return `pid ${holder.pid} (user ${holder.user}${application})`;
}

async function migrationFiles(directory: string): Promise<string[]> {
  const files = (await readdir(directory)).filter((file) => MIGRATION_FILE.test(file)).sort();
  assertUniqueVersions(files);
  return files;
}

/**
 * For a process that does not migrate at start (its login may not: see the README): fails,
 * naming the files and how to apply them, unless `schema` has recorded every migration.
 */
export async function requireMigrated(
  sql: Sql,
  { schema, directory }: { schema: string; directory: string },
  command: string,
): Promise<void> {
  const files = await migrationFiles(directory);
  const [record] = await sql<{ table: string | null }[]>`
    select to_regclass(${`${schema}.schema_migrations`})::text as table`;
  const done = record?.table
    ? new Set(
        (
          await sql<{ version: number }[]>`select version from ${sql(schema)}.schema_migrations`
        ).map((row) => row.version),
      )
    : new Set<number>();
  const pending = files.filter((file) => !done.has(versionOf(file)));
  if (pending.length > 0) {
    throw new Error(
      `Schema ${schema} lacks ${pending.length} migration(s) (${pending.join(", ")}): apply them with \`${command}\` as the database's admin user, then start again`,
    );
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

/**
 * A process' schema at its start: migrated over an admin connection to `url` (the default), or,
 * when the process does not migrate (`migrateOnStart` false, its login may not), required to be
 * migrated already, checked over its own `sql`.
 */
export async function migrateAtStart(
  sql: Sql,
  options: {
    url: string;
    migrations: { schema: string; directory: string };
    migrateOnStart: boolean;
    /** The command that applies them, for the error when they are missing. */
    command: string;
    log: Pick<Logger, "info" | "warn">;
  },
): Promise<void> {
  const { url, migrations, log } = options;
  if (!options.migrateOnStart) return requireMigrated(sql, migrations, options.command);
  const { applied } = await migrateDatabase(url, migrations, {
    onWaiting: (holder) =>
      log.warn({ holder }, `waiting for another migration of schema ${migrations.schema}`),
  }).catch((error: unknown) => {
    if (!isPermissionDenied(error)) throw error;
    throw new Error(
      `DATABASE_URL's user may not migrate schema ${migrations.schema} (${errorMessage(error)}): apply the migrations as the database's admin user (\`${options.command}\`), and start this process with MIGRATE_ON_START=false`,
      { cause: error },
    );
  });
  if (applied.length > 0) log.info({ applied }, "migrations applied");
}

/** SQLSTATE 42501, insufficient_privilege. */
function isPermissionDenied(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "42501";
}
