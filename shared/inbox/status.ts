import { allQueries, type Queryable } from "../database.ts";
import { backlogText, formatCount, formatDuration, oneLine } from "../report-text.ts";
import { type InboxSpec, inboxTable } from "./spec.ts";

/** What ProcessInboxJob has not applied yet: for `/metrics` and `/health/messaging`. */
export type InboxBacklog = {
  pending: number;
  /** Age of the oldest pending row (by `received_at`); null when none is pending. */
  oldestPendingAgeMs: number | null;
  /** Rows whose handler failed `INBOX_MAX_ATTEMPTS` times. */
  dead: number;
  /** Messages that could not be read as an event, kept with their raw bytes. */
  parked: number;
};

export type InboxError = {
  id: string;
  type: string | null;
  subject: string;
  status: "pending" | "dead" | "parked";
  attempts: number;
  lastError: string;
  streamSequence: number;
  receivedAt: Date;
};

/** The inbox in detail: for `bun run inbox:status`. */
export type InboxStatus = InboxBacklog & {
  /** Pending rows by how many attempts failed so far. */
  attempts: { attempts: number; rows: number }[];
  /** The failing rows most recently received, newest first. */
  latestErrors: InboxError[];
};

/** Counts through the partial indexes (`inbox_messages_pending`, `inbox_messages_stuck`). */
export async function readInboxBacklog(
  sql: Queryable,
  inbox: Pick<InboxSpec, "schema">,
): Promise<InboxBacklog> {
  const table = inboxTable(sql, inbox);
  const [row] = await sql<InboxBacklog[]>`
    select
      (select count(*) from ${table} where status = 'pending') as pending,
      (select (extract(epoch from now() - received_at) * 1000)::float8
       from ${table} where status = 'pending'
       order by position limit 1) as oldest_pending_age_ms,
      (select count(*) from ${table} where status = 'dead') as dead,
      (select count(*) from ${table} where status = 'parked') as parked`;
  return row as InboxBacklog;
}

export async function readInboxStatus(
  sql: Queryable,
  inbox: Pick<InboxSpec, "schema">,
  { errors = 10 }: { errors?: number } = {},
): Promise<InboxStatus> {
  const table = inboxTable(sql, inbox);
  const [backlog, attempts, latestErrors] = await allQueries([
    readInboxBacklog(sql, inbox),
    sql<{ attempts: number; rows: number }[]>`
      select attempts, count(*) as rows from ${table}
      where status = 'pending'
      group by attempts order by attempts`,
    sql<InboxError[]>`
      select id, type, subject, status, attempts, last_error, stream_sequence, received_at
      from (
        (select id, type, subject, status, attempts, last_error, stream_sequence, received_at,
                position
         from ${table} where status = 'pending' and last_error is not null)
        union all
        (select id, type, subject, status, attempts, last_error, stream_sequence, received_at,
                position
         from ${table} where status in ('dead', 'parked'))
      ) as failing
      order by position desc limit ${errors}`,
  ]);
  return {
    ...backlog,
    attempts: [...attempts],
    latestErrors: [...latestErrors],
  };
}

/** The status as text for a terminal (`inbox:status`). */
export function inboxStatusText(status: InboxStatus, inbox: Pick<InboxSpec, "schema">): string {
  return backlogText({
    title: `Inbox (${inbox.schema}.inbox_messages)`,
    fields: [
      ["Pending", formatCount(status.pending)],
      ["Oldest pending", formatDuration(status.oldestPendingAgeMs)],
      ["Dead", formatCount(status.dead)],
      ["Parked", formatCount(status.parked)],
    ],
    attempts: status.attempts,
    errors: {
      title: "Latest errors (most recently received first)",
      header: ["id", "stream seq", "type", "status", "attempts", "error"],
      rows: status.latestErrors.map((e) => [
        e.id,
        String(e.streamSequence),
        e.type ?? "(unreadable)",
        e.status,
        String(e.attempts),
        oneLine(e.lastError),
      ]),
    },
  });
}
