import { jetstreamManager } from "@nats-io/jetstream";
import type { Queryable } from "../database.ts";
import { type IntervalLoop, startIntervalLoop } from "../interval-loop.ts";
import type { Logger } from "../logger.ts";
import { type NatsLink, type NatsNames, streamInfo } from "../nats.ts";
import { type InboxSpec, inboxTable } from "./spec.ts";

/**
 * Deletes up to `batchSize` processed or ignored inbox rows whose message last arrived more than
 * `retentionMs` ago, in one short statement. Pending, parked and dead rows are never touched.
 * Rows are locked as they are picked, and one locked meanwhile is skipped: a row given another
 * chance (`inbox:replay`), or received again, while the statement waited on it would otherwise
 * go all the same (Postgres re-checks only the outer `where` of a row it waited for).
 */
export async function deleteHandledInboxRows(
  sql: Queryable,
  inbox: Pick<InboxSpec, "schema">,
  { retentionMs, batchSize }: { retentionMs: number; batchSize: number },
): Promise<number> {
  const result = await sql`
    delete from ${inboxTable(sql, inbox)}
    where id in (
      select id from ${inboxTable(sql, inbox)}
      where status in ('processed', 'ignored')
        and received_at < now() - ${retentionMs} * interval '1 millisecond'
        and (last_received_at is null
             or last_received_at < now() - ${retentionMs} * interval '1 millisecond')
      order by received_at
      limit ${batchSize}
      for update skip locked)`;
  return result.count;
}

/**
 * NATS expires messages by its own clock and timer: rows are kept this much longer than the
 * stream keeps their messages, so no row goes while its message may still be delivered.
 */
export const STREAM_EXPIRY_MARGIN_MS = 60 * 60_000;

/**
 * Deletes handled inbox rows after `retentionMs`, but never sooner than the stream keeps its
 * messages (`max_age`, plus a margin): while the stream may still deliver a message again (a
 * recreated consumer, a replay), its inbox row must be there to recognise it as a duplicate.
 * Without an answer from NATS it waits for the next run rather than guess. The stream is the
 * inbox's, put in its namespace by `names` (as the consumer does).
 */
export function startInboxRetention({
  sql,
  inbox,
  nats,
  names,
  log,
  retentionMs,
  intervalMs,
  batchSize = 1_000,
}: {
  sql: Queryable;
  inbox: Pick<InboxSpec, "schema" | "stream">;
  nats: NatsLink;
  names: NatsNames;
  log: Logger;
  retentionMs: number;
  intervalMs: number;
  batchSize?: number;
}): IntervalLoop {
  const stream = names.stream(inbox.stream);
  return startIntervalLoop({
    name: "inbox-retention",
    intervalMs,
    log,
    run: async () => {
      const connection = nats.connection;
      if (!connection || !nats.isConnected) return false;
      const info = await streamInfo(await jetstreamManager(connection), stream);
      const streamMaxAgeMs = info ? info.config.max_age / 1_000_000 : Number.POSITIVE_INFINITY;
      // max_age 0 means "keep forever": then so must the inbox.
      const keepMs = Math.max(
        retentionMs,
        streamMaxAgeMs === 0 ? Number.POSITIVE_INFINITY : streamMaxAgeMs + STREAM_EXPIRY_MARGIN_MS,
      );
      if (!Number.isFinite(keepMs)) return false;
      const deleted = await deleteHandledInboxRows(sql, inbox, { retentionMs: keepMs, batchSize });
      if (deleted > 0) log.info({ deleted, retentionMs: keepMs }, "handled inbox rows deleted");
      return deleted === batchSize;
    },
  });
}
