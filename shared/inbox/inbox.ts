import { createHash } from "node:crypto";
import type { Queryable, Sql, Transaction } from "../database.ts";
import { type InboxSpec, inboxTable } from "./spec.ts";

/** What storing messages reads of the inbox: its table, and how its messages read. */
type StoredInbox = Pick<InboxSpec, "schema" | "parse">;

/** A message as the consumer hands it over. */
export type ReceivedMessage = {
  subject: string;
  data: Uint8Array;
  streamSequence: number;
  /**
   * Read only for a message that gets parked: a valid event carries what the module needs of
   * them (its id, its trace context) itself, and decoding a NATS message's headers costs more
   * than storing the message (measured), so the consumer decodes them on first read.
   */
  readonly headers: Record<string, string>;
};

export type InboxStatus = "pending" | "processed" | "ignored" | "parked" | "dead";

/** A row for the module's `inbox_messages`, as the intake statement takes it. */
export type InboxRow = {
  id: string;
  type: string | null;
  subject: string;
  /** The event as JSON text; null for a parked message that is not JSON. */
  payload: string | null;
  /** The raw body, base64; only for parked messages. */
  rawBody: string | null;
  /** The NATS headers as JSON; only for parked messages (`{}` otherwise). */
  headers: string;
  streamSequence: number;
  status: Extract<InboxStatus, "pending" | "ignored" | "parked">;
  lastError: string | null;
};

/**
 * Decides how a message is stored: a valid event the module handles is `pending`; a valid
 * envelope of a type it does not handle is `ignored`; anything else is `parked` with its issues
 * and raw body and headers. Keyed by the event id so redeliveries collapse; a message with no
 * readable id is keyed by a hash of its subject and bytes.
 */
export function toInboxRow(
  inbox: Pick<InboxSpec, "parse">,
  message: ReceivedMessage,
  handles: (type: string) => boolean,
): InboxRow {
  const base = {
    subject: toStorableText(message.subject),
    headers: "{}",
    streamSequence: message.streamSequence,
  };
  const text = decodeUtf8(message.data);
  const parsed = inbox.parse(text ?? message.data);
  // Keep the event as sent, unknown fields included: the parsed copy drops them.
  const payload = () => text ?? null;
  if (parsed.success) {
    const { event } = parsed;
    const handled = handles(event.type);
    return {
      ...base,
      id: event.id,
      type: event.type,
      payload: payload(),
      rawBody: null,
      status: handled ? "pending" : "ignored",
      lastError: handled ? null : `no handler for ${event.type}`,
    };
  }
  const problems = parsed.issues
    .map((issue) => `${issue.path || "(message)"}: ${issue.message}`)
    .join("; ");
  if (parsed.envelope && !handles(parsed.envelope.type)) {
    return {
      ...base,
      id: parsed.envelope.id,
      type: parsed.envelope.type,
      payload: payload(),
      rawBody: null,
      status: "ignored",
      lastError: `no handler for ${parsed.envelope.type}`,
    };
  }
  return parkedRow(message, `not a valid event: ${problems}`);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as text, decoded once; undefined when it is not UTF-8 (the message gets parked). */
function decodeUtf8(data: Uint8Array): string | undefined {
  try {
    return utf8.decode(data);
  } catch {
    return undefined;
  }
}

/**
 * Postgres text and jsonb cannot hold NUL, nor jsonb a lone surrogate: headers and the subject
 * are stored with such characters replaced (U+FFFD), so they can never keep a message out.
 */
function toStorableText(text: string): string {
  if (!text.includes("\u0000") && text.isWellFormed()) return text;
  return text.replaceAll("\u0000", "\uFFFD").toWellFormed();
}

function storableHeaders(headers: Record<string, string>): string {
  const storable: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers))
    storable[toStorableText(key)] = toStorableText(value);
  return JSON.stringify(storable);
}

/** Stores the message as received, unreadable, with the reason. */
export function parkedRow(message: ReceivedMessage, reason: string): InboxRow {
  return {
    id: contentId(message),
    type: null,
    subject: toStorableText(message.subject),
    payload: null,
    rawBody: Buffer.from(message.data).toString("base64"),
    headers: storableHeaders(message.headers),
    streamSequence: message.streamSequence,
    status: "parked",
    lastError: reason,
  };
}

/** A UUID (version 8) from the SHA-256 of subject and body: the same bytes get the same id. */
export function contentId(message: Pick<ReceivedMessage, "subject" | "data">): string {
  const hex = createHash("sha256")
    .update(message.subject)
    .update("\n")
    .update(message.data)
    .digest("hex");
  const variant = ((Number.parseInt(hex[16] ?? "0", 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Inserts the rows with one statement; rows already stored (same id) are skipped. The batch
 * travels as one JSON document, serialized natively: as text arrays, every payload would be
 * escaped for the array syntax in JavaScript (a tenth of the intake's time, profiled).
 */
async function insertRows(sql: Queryable, inbox: StoredInbox, rows: InboxRow[]): Promise<string[]> {
  const inserted = await sql<{ id: string }[]>`
    insert into ${inboxTable(sql, inbox)}
      (id, type, subject, payload, raw_body, headers, stream_sequence, status, last_error)
    select m.id, m.type, m.subject, m.payload::jsonb, decode(m."rawBody", 'base64'),
           m.headers::jsonb, m."streamSequence", m.status, m."lastError"
    from jsonb_to_recordset(${sql.json(rows)}) as m(
      id uuid, type text, subject text, payload text, "rawBody" text, headers text,
      "streamSequence" bigint, status text, "lastError" text)
    on conflict (id) do nothing
    returning id`;
  return inserted.map((row) => row.id);
}

/**
 * Distinct ignored event types a process names on their own (a log line, a metric series each);
 * the rest go unnamed: a type is whatever a message says.
 */
export const MAX_NAMED_IGNORED_TYPES = 100;

/**
 * What a batch added to the inbox: how many rows, how many of them wait for ProcessInboxJob, and
 * the ones it never will, with why (a type the module has no handler for; a message not a valid
 * event).
 */
export type StoredBatch = {
  inserted: number;
  pending: number;
  ignored: { id: string; type: string | null }[];
  parked: { id: string; subject: string; streamSequence: number; error: string | null }[];
};

/**
 * Stores a batch of messages in the inbox within `tx`. Normally one statement; if Postgres
 * refuses some value (e.g. a `\u0000` or a nesting too deep for jsonb), each message is retried
 * on its own and the ones it still refuses are parked with their raw bytes (headers and subject
 * made storable), so one bad message never blocks.
 */
export async function storeInboxMessages(
  tx: Transaction,
  inbox: StoredInbox,
  messages: ReceivedMessage[],
  handles: (type: string) => boolean,
): Promise<StoredBatch> {
  const rows = messages.map((message) => toInboxRow(inbox, message, handles));
  let insertedIds: string[];
  try {
    insertedIds = await tx.savepoint((sp) => insertRows(sp, inbox, rows));
  } catch (error) {
    if (!isRefusedValue(error)) throw error;
    insertedIds = await insertOneByOne(tx, inbox, messages, rows);
  }
  return storedBatch(rows, new Set(insertedIds));
}

/**
 * Like `storeInboxMessages`, for a batch that needs no transaction of the caller's (the
 * consumer's): the one statement is atomic by itself, so it runs alone, without `begin`,
 * savepoint and `commit` around it (one round trip instead of four). Only when Postgres refuses
 * a value is the batch stored again in a transaction, a message at a time.
 */
export async function storeReceivedMessages(
  sql: Sql,
  inbox: StoredInbox,
  messages: ReceivedMessage[],
  handles: (type: string) => boolean,
): Promise<StoredBatch> {
  const rows = messages.map((message) => toInboxRow(inbox, message, handles));
  let insertedIds: string[];
  try {
    insertedIds = await insertRows(sql, inbox, rows);
  } catch (error) {
    if (!isRefusedValue(error)) throw error;
    insertedIds = await sql.begin((tx) => insertOneByOne(tx, inbox, messages, rows));
  }
  const inserted = new Set(insertedIds);
  await noteLaterCopies(sql, inbox, rows, inserted);
  return storedBatch(rows, inserted);
}

/**
 * Rows already stored: the stream delivered their message again, and may keep this copy its
 * `max_age` from now, so retention counts from now (see Orders'
 * `0011_inbox_last_received.sql`), and the consumer's start check must know the copy's sequence
 * (`0013_inbox_last_stream_sequence.sql`). A copy that arrives as retention deletes its row is
 * acked all the same: it was applied.
 */
async function noteLaterCopies(
  sql: Sql,
  inbox: StoredInbox,
  rows: InboxRow[],
  inserted: ReadonlySet<string>,
) {
  // The newest sequence of each copy; of two rows of one id in the batch, the first was stored.
  const newestCopy = new Map<string, number>();
  const storedNow = new Set<string>();
  for (const row of rows) {
    const id = row.id.toLowerCase();
    if (inserted.has(id) && !storedNow.has(id)) {
      storedNow.add(id);
    } else {
      newestCopy.set(id, Math.max(newestCopy.get(id) ?? 0, row.streamSequence));
    }
  }
  if (newestCopy.size === 0) return;
  await sql`
    update ${inboxTable(sql, inbox)} as stored
    set last_received_at = now(),
        last_stream_sequence = greatest(stored.last_stream_sequence, copy.sequence)
    from unnest(${[...newestCopy.keys()]}::uuid[], ${[...newestCopy.values()]}::bigint[])
      as copy(id, sequence)
    where stored.id = copy.id`;
}

function storedBatch(rows: InboxRow[], inserted: ReadonlySet<string>): StoredBatch {
  // Postgres returns a uuid in lower case, whatever case the event's id came in.
  const added = rows.filter((row) => inserted.has(row.id.toLowerCase()));
  const withStatus = (status: InboxRow["status"]) => added.filter((row) => row.status === status);
  return {
    inserted: inserted.size,
    pending: withStatus("pending").length,
    ignored: withStatus("ignored").map(({ id, type }) => ({ id, type })),
    parked: withStatus("parked").map(({ id, subject, streamSequence, lastError }) => ({
      id,
      subject,
      streamSequence,
      error: lastError,
    })),
  };
}

async function insertOneByOne(
  tx: Transaction,
  inbox: StoredInbox,
  messages: ReceivedMessage[],
  rows: InboxRow[],
): Promise<string[]> {
  const insertedIds: string[] = [];
  for (const [index, row] of rows.entries()) {
    try {
      insertedIds.push(...(await tx.savepoint((sp) => insertRows(sp, inbox, [row]))));
    } catch (rowError) {
      if (!isRefusedValue(rowError)) throw rowError;
      const message = messages[index] as ReceivedMessage;
      const parked = parkedRow(message, `cannot be stored as JSON: ${(rowError as Error).message}`);
      insertedIds.push(...(await insertRows(tx, inbox, [parked])));
    }
  }
  return insertedIds;
}

/**
 * SQLSTATE class 22 (data exception, e.g. `\u0000` in jsonb) or 54 (program limit exceeded,
 * e.g. JSON nested too deep for jsonb): the value, not the database, is the problem.
 */
export function isRefusedValue(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("54"));
}
