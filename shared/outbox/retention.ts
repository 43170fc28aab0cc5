import type { Queryable } from "../database.ts";
import { type IntervalLoop, startIntervalLoop } from "../interval-loop.ts";
import type { Logger } from "../logger.ts";
import { type OutboxSpec, outboxTable } from "./spec.ts";

/**
 * Deletes up to `batchSize` published outbox rows older than `retentionMs`, in one short
 * statement. Pending and parked rows are never touched: only `published_at` rows qualify. Rows
 * are locked as they are picked, and one locked meanwhile is skipped: a row queued again while
 * the statement waited on it would otherwise go all the same (Postgres re-checks only the outer
 * `where` of a row it waited for), and its event would never be sent again.
 */
export async function deletePublishedOutboxRows(
  sql: Queryable,
  outbox: OutboxSpec,
  { retentionMs, batchSize }: { retentionMs: number; batchSize: number },
): Promise<number> {
  const table = outboxTable(sql, outbox);
  const result = await sql`
    delete from ${table}
    where id in (
      select id from ${table}
      where published_at < now() - ${retentionMs} * interval '1 millisecond'
      order by published_at
      limit ${batchSize}
      for update skip locked)`;
  return result.count;
}

/**
 * Keeps published rows for `retentionMs` (so a broker that lost data can be refilled from the
 * outbox), then deletes them in bounded batches, each in its own transaction.
 */
export function startOutboxRetention({
  sql,
  outbox,
  log,
  retentionMs,
  intervalMs,
  batchSize = 1_000,
}: {
  sql: Queryable;
  outbox: OutboxSpec;
  log: Logger;
  retentionMs: number;
  intervalMs: number;
  batchSize?: number;
}): IntervalLoop {
  return startIntervalLoop({
    name: "outbox-retention",
    intervalMs,
    log,
    run: async () => {
      const deleted = await deletePublishedOutboxRows(sql, outbox, { retentionMs, batchSize });
      if (deleted > 0) log.info({ deleted }, "published outbox rows deleted");
      return deleted === batchSize;
    },
  });
}
