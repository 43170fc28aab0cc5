import postgres from "postgres";
import { errorMessage } from "./errors.ts";

/** A connection pool; queries are tagged templates, columns come back camelCased. */
export type Sql = postgres.Sql;
/** What both a pool and a transaction can run: use it for functions that work inside either. */
export type Queryable = postgres.ISql;
export type Transaction = postgres.TransactionSql;

export type DatabaseOptions = {
  /** Shown in `pg_stat_activity.application_name`. */
  name: string;
  max?: number;
  /** Run every connection as this role (`SET ROLE`), so it reaches only what the role may. */
  role?: string;
  /**
   * A statement that waits longer than this for a lock fails (`lock_timeout`) instead of holding
   * its connection until whoever holds the lock lets go.
   */
  lockTimeoutMs?: number;
};

/** Opens a pool to `url`. Columns map snake_case ⇄ camelCase; notices are not printed. */
export function createDatabase(
  url: string,
  { name, max = 10, role, lockTimeoutMs }: DatabaseOptions,
): Sql {
  return postgres(url, {
    max,
    // Column names only: `postgres.camel` would also rename keys inside jsonb values.
    transform: { column: { from: postgres.toCamel, to: postgres.fromCamel } },
    onnotice: () => {},
    connect_timeout: 5,
    // While Postgres is down, retry connecting at least every second (the default backs off to
    // 20 s), so queued queries fail or proceed promptly instead of waiting.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    // int8 columns (counts, sequences, minor-unit amounts up to 10^12) as numbers, not strings.
    types: { int8: { to: 20, from: [20], serialize: String, parse: Number } },
    connection: {
      application_name: name,
      ...(role ? { role } : {}),
      ...(lockTimeoutMs ? { lock_timeout: lockTimeoutMs } : {}),
    },
  });
}

/**
 * `Promise.all` for queries run side by side, except that a failure is thrown only once every
 * query has settled: `Promise.all` rejects at the first one and leaves the others running (with
 * Postgres unreachable, retrying to connect), and closing the pool then waits for them.
 */
export async function allQueries<T extends readonly unknown[] | []>(
  queries: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled: PromiseSettledResult<unknown>[] = await Promise.allSettled([...queries]);
  const values: unknown[] = [];
  for (const result of settled) {
    if (result.status === "rejected") throw result.reason;
    values.push(result.value);
  }
  return values as { -readonly [K in keyof T]: Awaited<T[K]> };
}

type Query = ReturnType<Queryable["unsafe"]>;

/**
 * A connection inside a transaction, whose writes are pipelined: `write` sends a statement
 * without waiting for its answer, so the writes of a use case or of a batch of handlers reach
 * Postgres together, in one round trip (a round trip costs the client more CPU than an insert,
 * measured). Reads are awaited as usual, and see the writes sent before them. A write that
 * fails aborts the transaction, and `settled` throws its error.
 */
export type PipelinedTransaction = {
  /** For reads (and for building the statements given to `write`). */
  sql: Queryable;
  /** Sends `query` now; if it fails, `settled` throws `onError(error)`. */
  write(query: Query, onError?: (error: unknown) => unknown): void;
  /** Waits for every write sent; throws the first one's error, if any failed. */
  settled(): Promise<void>;
};

/** Pipelines writes on `sql`, a connection whose transaction the caller begins and ends. */
export function pipelineWrites(sql: Queryable): PipelinedTransaction {
  const writes: Promise<unknown>[] = [];
  return {
    sql,
    write(query, onError = (error) => error) {
      const written = query.execute().catch((error: unknown) => {
        throw onError(error);
      });
      // Handled by `settled`, which may come after the failure: not an unhandled rejection.
      written.catch(() => {});
      writes.push(written);
    },
    async settled() {
      await allQueries(writes);
    },
  };
}

/** Waits up to `timeoutSeconds` for running queries, then closes every connection. */
export async function closeDatabase(sql: Sql, timeoutSeconds = 5): Promise<void> {
  await sql.end({ timeout: timeoutSeconds });
}

/** Postgres error codes the code base reacts to. */
export const PG_UNIQUE_VIOLATION = "23505";
export const PG_LOCK_NOT_AVAILABLE = "55P03";
export const PG_DEADLOCK_DETECTED = "40P01";
export const PG_SERIALIZATION_FAILURE = "40001";

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  return (
    error instanceof postgres.PostgresError &&
    error.code === PG_UNIQUE_VIOLATION &&
    (constraint === undefined || error.constraint_name === constraint)
  );
}

/**
 * True when Postgres ended a statement for what other transactions did at the same time (a
 * deadlock, a serialization failure), not for what it does: the same work succeeds again.
 */
export function isTransactionConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === PG_DEADLOCK_DETECTED || code === PG_SERIALIZATION_FAILURE;
}

/**
 * True when Postgres itself answered with an error: the statement (a COMMIT too) did not take
 * effect. A lost connection is not one: then whether a COMMIT took effect is unknown.
 */
export function isPostgresError(error: unknown): boolean {
  return error instanceof postgres.PostgresError;
}

/** True when a statement gave up waiting for a lock (`lock_timeout`). */
export function isLockTimeout(error: unknown): boolean {
  return error instanceof postgres.PostgresError && error.code === PG_LOCK_NOT_AVAILABLE;
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND", // the host's name does not resolve (yet: a container starting)
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "08000",
  "08001", // sqlclient_unable_to_establish_sqlconnection
  "08003",
  "08004", // sqlserver_rejected_establishment_of_sqlconnection
  "08006",
  "53300", // too_many_connections
]);

/** True when the error means "Postgres is not reachable right now", not "the query is wrong". */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && UNAVAILABLE_CODES.has(code);
}

/** True when Postgres answers `select 1` within `timeoutMs`: a readiness check. */
export async function isDatabaseReachable(sql: Sql, timeoutMs = 1_000): Promise<boolean> {
  const answered = sql`select 1`.then(
    () => true,
    () => false,
  );
  return Promise.race([answered, Bun.sleep(timeoutMs).then(() => false)]);
}

/**
 * Calls `onNotify` whenever a process runs `NOTIFY channel` (e.g. a script that queued work
 * for a loop). Without LISTEN (some poolers refuse it) the loop still polls, so a failure is a
 * warning. Resolves the returned `stop` once listening ends.
 */
export function listenForWakeUps(
  sql: Sql,
  channel: string,
  onNotify: () => void,
  log: { warn: (details: object, message: string) => void },
): { stop(): Promise<void> } {
  const listening = sql.listen(channel, onNotify).catch((error) => {
    log.warn({ channel, err: errorMessage(error) }, "cannot LISTEN for wake-ups; polling only");
    return undefined;
  });
  return {
    async stop() {
      await (await listening)?.unlisten().catch(() => {});
    },
  };
}
