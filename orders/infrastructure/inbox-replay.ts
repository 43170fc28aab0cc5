import type { Sql } from "shared";
import { type ReceivedMessage, storeInboxMessages, toInboxRow } from "./inbox.ts";
import { INBOX_CHANNEL } from "./process-inbox-job.ts";

export type ReplayOutcome =
  | { id: string; outcome: "requeued" }
  | { id: string; outcome: "reread"; eventId: string; status: string }
  | { id: string; outcome: "still unreadable"; reason: string }
  | { id: string; outcome: "not replayable"; status: string }
  | { id: string; outcome: "not found" };

type StoredRow = {
  id: string;
  status: string;
  subject: string;
  payload: unknown;
  rawBody: Buffer | null;
  headers: Record<string, string>;
  streamSequence: number;
};

/**
 * Gives dead and parked inbox rows another chance, and wakes ProcessInboxJob. A dead row (its
 * handler kept failing) goes back to pending with its attempts reset. A parked row (unreadable
 * when it arrived) is read again as it was received: if this version of Orders can read it,
 * it is stored under its event id (pending, or ignored) and the parked copy removed.
 */
export async function replayInboxRows(
  sql: Sql,
  { ids = [], allDead = false }: { ids?: string[]; allDead?: boolean },
  handles: (type: string) => boolean,
): Promise<ReplayOutcome[]> {
  const outcomes = await sql.begin(async (tx) => {
    const rows = await tx<StoredRow[]>`
      select id, status, subject, payload, raw_body, headers, stream_sequence
      from orders.inbox_messages
      where id = any(${ids}::uuid[]) ${allDead ? tx`or status = 'dead'` : tx``}
      for update`;
    const found = new Set(rows.map((row) => row.id));
    const results: ReplayOutcome[] = ids
      .filter((id) => !found.has(id))
      .map((id) => ({ id, outcome: "not found" }));

    for (const row of rows) {
      if (row.status === "dead") {
        await tx`
          update orders.inbox_messages
          set status = 'pending', attempts = 0, next_attempt_at = now()
          where id = ${row.id}`;
        results.push({ id: row.id, outcome: "requeued" });
      } else if (row.status === "parked") {
        const message: ReceivedMessage = {
          subject: row.subject,
          data: row.rawBody ?? new TextEncoder().encode(JSON.stringify(row.payload)),
          streamSequence: row.streamSequence,
          headers: row.headers,
        };
        const reread = toInboxRow(message, handles);
        if (reread.status !== "parked") await storeInboxMessages(tx, [message], handles);
        const [stored] = await tx<{ status: string }[]>`
          select status from orders.inbox_messages where id = ${reread.id} and id <> ${row.id}`;
        if (!stored) {
          results.push({ id: row.id, outcome: "still unreadable", reason: reread.lastError ?? "" });
          continue;
        }
        await tx`delete from orders.inbox_messages where id = ${row.id}`;
        results.push({ id: row.id, outcome: "reread", eventId: reread.id, status: stored.status });
      } else {
        results.push({ id: row.id, outcome: "not replayable", status: row.status });
      }
    }
    return results;
  });
  await sql.notify(INBOX_CHANNEL, "replay");
  return outcomes;
}
