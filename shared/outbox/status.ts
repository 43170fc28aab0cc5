import { allQueries, type Queryable } from "../database.ts";
import { backlogText, formatCount, formatDuration, oneLine } from "../report-text.ts";
import { type OutboxSpec, outboxTable } from "./spec.ts";

/** What the relay has not published yet: for `/metrics` and `/health/messaging`. */
export type OutboxBacklog = {
  pending: number;
  /** Age of the oldest pending row (by `occurred_at`); null when none is pending. */
  oldestPendingAgeMs: number | null;
  /** Rows the relay gave up on (see `parked_at`): never sent until `outbox:republish`. */
  parked: number;
};

export type OutboxError = {
  id: string;
  type: string;
  state: "retrying" | "parked";
  attempts: number;
  lastError: string;
  occurredAt: Date;
  /** When a retrying row is due again, or when a parked row was parked. */
  at: Date;
};

/** The outbox in detail: for `bun run outbox:status`. */
export type OutboxStatus = OutboxBacklog & {
  publishedLastHour: number;
  /** Pending rows by how many attempts failed so far. */
  attempts: { attempts: number; rows: number }[];
  /** The failing rows of the most recent events, newest first. */
  latestErrors: OutboxError[];
};

/** Counts through the partial indexes (`outbox_messages_due`, `outbox_messages_parked`). */
export async function readOutboxBacklog(
  sql: Queryable,
  outbox: OutboxSpec,
): Promise<OutboxBacklog> {
  const table = outboxTable(sql, outbox);
  const [row] = await sql<OutboxBacklog[]>`
    select pending.count as pending, pending.oldest_pending_age_ms,
           (select count(*) from ${table} where parked_at is not null) as parked
    from (select count(*) as count,
                 (extract(epoch from now() - min(occurred_at)) * 1000)::float8 as oldest_pending_age_ms
          from ${table}
          where published_at is null and parked_at is null) as pending`;
  return row as OutboxBacklog;
}

export async function readOutboxStatus(
  sql: Queryable,
  outbox: OutboxSpec,
  { errors = 10 }: { errors?: number } = {},
): Promise<OutboxStatus> {
  const table = outboxTable(sql, outbox);
  const [backlog, [published], attempts, latestErrors] = await allQueries([
    readOutboxBacklog(sql, outbox),
    sql<{ count: number }[]>`
      select count(*) from ${table}
      where published_at is not null and published_at > now() - interval '1 hour'`,
    sql<{ attempts: number; rows: number }[]>`
      select attempts, count(*) as rows from ${table}
      where published_at is null and parked_at is null
      group by attempts order by attempts`,
    sql<OutboxError[]>`
      select * from (
        (select id, type, 'retrying' as state, attempts, last_error, occurred_at,
                next_attempt_at as at
         from ${table}
         where published_at is null and parked_at is null and last_error is not null)
        union all
        (select id, type, 'parked', attempts, last_error, occurred_at, parked_at
         from ${table} where parked_at is not null)
      ) as failing
      order by occurred_at desc limit ${errors}`,
  ]);
  return {
    ...backlog,
    publishedLastHour: published?.count ?? 0,
    attempts: [...attempts],
    latestErrors: [...latestErrors],
  };
}

/** The status as text for a terminal (`outbox:status`). */
export function outboxStatusText(status: OutboxStatus, outbox: Pick<OutboxSpec, "schema">): string {
  return backlogText({
    title: `Outbox (${outbox.schema}.outbox_messages)`,
    fields: [
      ["Pending", formatCount(status.pending)],
      ["Oldest pending", formatDuration(status.oldestPendingAgeMs)],
      ["Parked", formatCount(status.parked)],
      ["Published (1 h)", formatCount(status.publishedLastHour)],
    ],
    attempts: status.attempts,
    errors: {
      title: "Latest errors (newest events first)",
      header: ["id", "type", "state", "attempts", "error"],
      rows: status.latestErrors.map((e) => [
        e.id,
        e.type,
        e.state,
        String(e.attempts),
        oneLine(e.lastError),
      ]),
    },
  });
}
