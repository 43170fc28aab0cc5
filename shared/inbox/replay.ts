import type { Sql, Transaction } from "../database.ts";
import { type ReceivedMessage, storeInboxMessages, toInboxRow } from "./inbox.ts";
import { type InboxSpec, inboxTable } from "./spec.ts";

export type ReplayOutcome =
  | { id: string; outcome: "requeued" }
  | { id: string; outcome: "reread"; eventId: string; status: string }
  | { id: string; outcome: "still unreadable"; reason: string }
  | { id: string; outcome: "still not handled"; type: string | null }
  | { id: string; outcome: "not replayable"; status: string }
  | { id: string; outcome: "not found" };

type StoredRow = {
  id: string;
  status: string;
  type: string | null;
  subject: string;
  payload: unknown;
  rawBody: Buffer | null;
  headers: Record<string, string>;
  streamSequence: number;
  lastError: string | null;
};

/**
 * Gives dead, parked and ignored inbox rows another chance, and wakes ProcessInboxJob. A dead
 * row (its handler kept failing) goes back to pending with its attempts reset. A parked row
 * (unreadable when it arrived) is read again as it was received: if this version of the module
 * can read it, it is stored under its event id (pending, or ignored) and the parked copy
 * removed. An ignored row (no handler for its type when it arrived, e.g. on an instance not yet
 * upgraded) goes back to pending if this version handles its type.
 */
export async function replayInboxRows(
  sql: Sql,
  inbox: Pick<InboxSpec, "schema" | "parse" | "channel">,
  {
    ids = [],
    allDead = false,
    allIgnored = false,
  }: { ids?: string[]; allDead?: boolean; allIgnored?: boolean },
  handles: (type: string) => boolean,
): Promise<ReplayOutcome[]> {
  // Postgres answers with ids in lower case, whatever case they were given in.
  const wanted = ids.map((id) => id.toLowerCase());
  const outcomes = await sql.begin(async (tx) => {
    const rows = await tx<StoredRow[]>`
      select id, status, type, subject, payload, raw_body, headers, stream_sequence, last_error
      from ${inboxTable(tx, inbox)}
      where id = any(${wanted}::uuid[])
        ${allDead ? tx`or status = 'dead'` : tx``}
        ${allIgnored ? tx`or status = 'ignored'` : tx``}
      for update`;
    const asked = new Set(wanted);
    const found = new Set(rows.map((row) => row.id));
    const results: ReplayOutcome[] = wanted
      .filter((id) => !found.has(id))
      .map((id) => ({ id, outcome: "not found" }));

    for (const row of rows) {
      if (row.status === "dead") {
        await requeue(tx, inbox, row.id);
        results.push({ id: row.id, outcome: "requeued" });
      } else if (row.status === "ignored") {
        if (row.type !== null && handles(row.type)) {
          await requeue(tx, inbox, row.id);
          results.push({ id: row.id, outcome: "requeued" });
        } else if (asked.has(row.id)) {
          // Only rows asked for by id are reported: --all-ignored passes over the rest.
          results.push({ id: row.id, outcome: "still not handled", type: row.type });
        }
      } else if (row.status === "parked") {
        const message: ReceivedMessage = {
          subject: row.subject,
          data: row.rawBody ?? new TextEncoder().encode(JSON.stringify(row.payload)),
          streamSequence: row.streamSequence,
          headers: row.headers,
        };
        const reread = toInboxRow(inbox, message, handles);
        if (reread.status !== "parked") await storeInboxMessages(tx, inbox, [message], handles);
        const [stored] = await tx<{ status: string }[]>`
          select status from ${inboxTable(tx, inbox)} where id = ${reread.id} and id <> ${row.id}`;
        if (!stored) {
          // Readable now, yet Postgres still refused it (e.g. a `\u0000`): parked again as it was.
          const reason = reread.lastError ?? row.lastError ?? "";
          results.push({ id: row.id, outcome: "still unreadable", reason });
          continue;
        }
        await tx`delete from ${inboxTable(tx, inbox)} where id = ${row.id}`;
        results.push({ id: row.id, outcome: "reread", eventId: reread.id, status: stored.status });
      } else {
        results.push({ id: row.id, outcome: "not replayable", status: row.status });
      }
    }
    return results;
  });
  await sql.notify(inbox.channel, "replay");
  return outcomes;
}

async function requeue(tx: Transaction, inbox: Pick<InboxSpec, "schema">, id: string) {
  await tx`
    update ${inboxTable(tx, inbox)}
    set status = 'pending', attempts = 0, last_error = null, next_attempt_at = now()
    where id = ${id}`;
}
