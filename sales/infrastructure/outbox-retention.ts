import { type IntervalLoop, type Logger, type Queryable, startIntervalLoop } from "shared";

/**
 * Deletes up to `batchSize` published outbox rows older than `retentionMs`, in one short
 * statement. Pending and parked rows are never touched: only `published_at` rows qualify.
 */
export async function deletePublishedOutboxRows(
  sql: Queryable,
  { retentionMs, batchSize }: { retentionMs: number; batchSize: number },
): Promise<number> {
  const result = await sql`
    delete from sales.outbox_messages
    where id in (
      select id from sales.outbox_messages
      where published_at < now() - ${retentionMs} * interval '1 millisecond'
      order by published_at
      limit ${batchSize})`;
  return result.count;
}

/**
 * Keeps published rows for `retentionMs` (so a broker that lost data can be refilled from the
 * outbox), then deletes them in bounded batches, each in its own transaction.
 */
export function startOutboxRetention({
  sql,
  log,
  retentionMs,
  intervalMs,
  batchSize = 1_000,
}: {
  sql: Queryable;
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
      const deleted = await deletePublishedOutboxRows(sql, { retentionMs, batchSize });
      if (deleted > 0) log.info({ deleted }, "published outbox rows deleted");
      return deleted === batchSize;
    },
  });
}
