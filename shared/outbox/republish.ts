import type { Sql } from "../database.ts";
import { type OutboxSpec, outboxTable } from "./spec.ts";

export type RepublishSelection = {
  ids?: string[];
  since?: Date;
  /** Rows published at these stream sequences (both included), e.g. ones a consumer missed. */
  sequences?: { from: number; to: number };
};
export type RepublishResult = {
  queued: string[];
  notFound: string[];
  /** With `sequences`: how many of them no outbox row recorded (deleted by retention, say). */
  sequencesNotFound?: number;
};

/**
 * Queues outbox rows to be published again, by id, by time (`occurred_at >= since`) or by the
 * stream sequences they were published at (parked rows left out of the last two: one is sent
 * again only when named, e.g. after the server's limit was raised),
 * and wakes the relays. They go out with their original event ids: JetStream drops copies
 * within its duplicate window, and a consumer's inbox (Orders') recognises any copy after that,
 * so this is safe at any time. (A row whose message the stream dropped within that window, e.g. by a
 * purge, waits for the window to pass: the relay checks what JetStream calls a duplicate.)
 */
export async function queueForRepublish(
  sql: Sql,
  outbox: OutboxSpec,
  { ids = [], since, sequences }: RepublishSelection,
): Promise<RepublishResult> {
  if (ids.length === 0 && !since && !sequences) {
    throw new Error("Give event ids, a time or stream sequences");
  }
  // Postgres answers with ids in lower case, whatever case they were given in.
  const wanted = ids.map((id) => id.toLowerCase());
  const table = outboxTable(sql, outbox);
  const recorded = sequences
    ? ((
        await sql<{ count: number }[]>`
          select count(distinct stream_sequence)::int as count from ${table}
          where stream_sequence between ${sequences.from} and ${sequences.to}`
      )[0]?.count ?? 0)
    : 0;
  const queued = await sql<{ id: string }[]>`
    update ${table}
    set published_at = null, stream_sequence = null, parked_at = null,
        -- a parked row starts afresh, in line with the others
        attempts = case when parked_at is null then attempts else 0 end,
        -- due now; a waiting row the stream check re-queued keeps its place in line, not one it
        -- re-queued and that was published or parked since
        next_attempt_at = case when published_at is null and parked_at is null
                               then least(next_attempt_at, now()) else now() end
    where ${wanted.length > 0 ? sql`id = any(${wanted}::uuid[])` : sql`false`}
       or ${since ? sql`(occurred_at >= ${since} and parked_at is null)` : sql`false`}
       or ${
         sequences
           ? sql`(stream_sequence between ${sequences.from} and ${sequences.to} and parked_at is null)`
           : sql`false`
       }
    returning id`;
  await sql.notify(outbox.channel, "republish");
  const found = new Set(queued.map((row) => row.id));
  return {
    queued: queued.map((row) => row.id),
    notFound: wanted.filter((id) => !found.has(id)),
    ...(sequences && { sequencesNotFound: sequences.to - sequences.from + 1 - recorded }),
  };
}
