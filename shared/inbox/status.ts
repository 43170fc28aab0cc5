import { allQueries, type Queryable } from "../database.ts";
import { backlogText, formatCount, formatDuration, formatTable, oneLine } from "../report-text.ts";
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
  /**
   * Rows stored as ignored (no handler for their type when they arrived), and of the most
   * frequent types, how many each; `inbox:replay --all-ignored` applies them once the module
   * handles their type.
   */
  ignored: { rows: number; byType: { type: string; rows: number }[] };
};

/** Ignored types named, the most frequent first. */
const LISTED_IGNORED_TYPES = 20;

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
  const [backlog, attempts, latestErrors, ignored] = await allQueries([
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
    // Through `inbox_messages_ignored` (orders' migration 0014).
    sql<{ type: string; rows: number; total: number }[]>`
      select type, rows, (sum(rows) over ())::int8 as total
      from (select type, count(*) as rows from ${table}
            where status = 'ignored' group by type) as by_type
      order by rows desc, type limit ${LISTED_IGNORED_TYPES}`,
  ]);
  return {
    ...backlog,
    attempts: [...attempts],
    latestErrors: [...latestErrors],
    ignored: {
      rows: ignored[0]?.total ?? 0,
      byType: ignored.map(({ type, rows }) => ({ type, rows })),
    },
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
      ["Ignored", formatCount(status.ignored.rows)],
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
  }).concat(ignoredText(status.ignored));
}

function ignoredText({ rows, byType }: InboxStatus["ignored"]): string {
  if (rows === 0) return "";
  const table = byType.map(({ type, rows }) => [type, formatCount(rows)]);
  const named = byType.reduce((sum, type) => sum + type.rows, 0);
  if (named < rows) table.push(["(other types)", formatCount(rows - named)]);
  const lines = [
    "",
    "Ignored rows by type (no handler when they arrived; inbox:replay --all-ignored applies them once there is)",
    ...formatTable(["type", "rows"], table),
  ];
  return `${lines.join("\n")}\n`;
}
