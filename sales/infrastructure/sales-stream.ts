import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { SALES_STREAM, SALES_SUBJECTS } from "contracts";
import {
  ensureStream,
  errorMessage,
  type IntervalLoop,
  type Logger,
  type NatsLink,
  type NatsNames,
  type Sql,
  type StreamSpec,
  startIntervalLoop,
  type Transaction,
} from "shared";
import { OUTBOX_MARKS_LOCK } from "./outbox-relay.ts";

export type SalesStreamOptions = {
  sql: Sql;
  nats: NatsLink;
  names: NatsNames;
  log: Logger;
  maxAgeMs: number;
  /** Called once the stream is verified on a (new) connection: the relay may publish. */
  onVerified: () => void;
  /** How often to re-check the stream besides every (re)connect. */
  checkIntervalMs?: number;
};

export type SalesStream = IntervalLoop & {
  readonly spec: StreamSpec;
  /** True once the stream was ensured and checked for lost messages on the current connection. */
  readonly isReady: boolean;
};

/** How soon to check again after a check failed; the relay waits for a check. */
const RETRY_MS = 1_000;

/** JetStream drops a re-sent `Nats-Msg-Id` seen within this window. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

type PublishedRow = { id: string; streamSequence: number };

/**
 * Keeps stream `SALES` (`sales.>`, limits retention, file storage, 2 min duplicate window) in
 * place and whole: ensured as soon as NATS answers, after every reconnect and periodically, and
 * each time checked against what the outbox recorded. A broker can lose acknowledged messages
 * (a power loss, a store wiped): when the stream no longer holds what the outbox says it
 * published, the missing rows are queued again. Their event ids are unchanged, so Orders' inbox
 * recognises whatever it already has.
 */
export function startSalesStream({
  sql,
  nats,
  names,
  log,
  maxAgeMs,
  onVerified,
  checkIntervalMs = 30_000,
}: SalesStreamOptions): SalesStream {
  const spec: StreamSpec = {
    name: names.stream(SALES_STREAM),
    subjects: [names.subject(SALES_SUBJECTS)],
    maxAgeMs,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
  };
  let verifiedGeneration = -1;
  let manager: { connection: NatsConnection; jsm: JetStreamManager } | undefined;

  async function managerFor(connection: NatsConnection): Promise<JetStreamManager> {
    if (manager?.connection !== connection)
      manager = { connection, jsm: await jetstreamManager(connection) };
    return manager.jsm;
  }

  /**
   * The row at the highest sequence the outbox says the stream holds, or nothing to check. By
   * sequence, not by `published_at`: a batch's rows share one, and a row sent again inside the
   * duplicate window gets a new one but keeps its old sequence.
   */
  async function newestPublished(tx: Transaction): Promise<PublishedRow | undefined> {
    const [row] = await tx<PublishedRow[]>`
      select id, stream_sequence from sales.outbox_messages
      where stream_sequence is not null
        and published_at > now() - ${maxAgeMs} * interval '1 millisecond'
      order by stream_sequence desc
      limit 1`;
    return row;
  }

  /**
   * Whether the stream holds the row's message at its recorded sequence. Only a definite "no
   * message there" (null) counts as lost; a failed lookup (a timeout, a dropped connection)
   * fails the whole check, which runs again soon, rather than re-sending the outbox's history.
   */
  async function holds(jsm: JetStreamManager, row: PublishedRow): Promise<boolean> {
    const message = await jsm.streams.getMessage(spec.name, { seq: row.streamSequence });
    return message?.header?.get("Nats-Msg-Id") === row.id;
  }

  /**
   * Queues again every published row whose message the stream has lost; returns how many. Holds
   * the relay's marks off meanwhile: a batch acked by the server before it lost its store, and
   * marked after this looked, would otherwise stay "published" with nothing on the stream.
   */
  async function requeueLostRows(jsm: JetStreamManager): Promise<number> {
    return sql.begin(async (tx) => {
      // Postgres ends this transaction (and frees the lock) if this process stalls inside it.
      await tx`
        select set_config('idle_in_transaction_session_timeout', '10000', true),
               pg_advisory_xact_lock(hashtext(${OUTBOX_MARKS_LOCK}))`;
      const newest = await newestPublished(tx);
      if (!newest) return 0;
      // Read under the lock: a batch that recorded its acks before this looked is on it.
      const lastSequence = (await jsm.streams.info(spec.name)).state.last_seq;
      if (newest.streamSequence <= lastSequence && (await holds(jsm, newest))) return 0;

      // The tail past the stream's last sequence is gone. If the stream still holds the message
      // just before that tail, only the tail is missing; otherwise its history is not ours.
      const [boundary] = await tx<PublishedRow[]>`
        select id, stream_sequence from sales.outbox_messages
        where stream_sequence <= ${lastSequence}
        order by stream_sequence desc
        limit 1`;
      const onlyTailLost = boundary !== undefined && (await holds(jsm, boundary));
      // Due before every waiting row, in their old order: the stream gets the lost messages
      // back at the sequences consumers saw them at, and new ones after, so a consumer already
      // past those sequences skips nothing it has not stored.
      const requeued = await tx`
        update sales.outbox_messages
        set published_at = null, stream_sequence = null,
            next_attempt_at = 'epoch'::timestamptz + coalesce(stream_sequence, 0) * interval '1 microsecond'
        where published_at is not null
          ${onlyTailLost ? tx`and stream_sequence > ${lastSequence}` : tx``}`;
      log.warn(
        {
          stream: spec.name,
          lastSequence,
          recordedSequence: newest.streamSequence,
          requeued: requeued.count,
        },
        "the stream lost messages the outbox had published; publishing them again",
      );
      return requeued.count;
    });
  }

  const loop = startIntervalLoop({
    name: "sales-stream",
    intervalMs: checkIntervalMs,
    log,
    run: async () => {
      const connection = nats.connection;
      const generation = nats.generation;
      if (!connection || !nats.isConnected) return;
      try {
        const jsm = await managerFor(connection);
        const { outcome } = await ensureStream(jsm, spec);
        if (outcome !== "unchanged") log.info({ stream: spec.name, outcome }, "stream ensured");
        await requeueLostRows(jsm);
        if (verifiedGeneration !== generation) {
          verifiedGeneration = generation;
          onVerified();
        }
      } catch (error) {
        log.error({ stream: spec.name, err: errorMessage(error) }, "cannot ensure stream");
        return RETRY_MS; // e.g. JetStream still starting after a server restart
      }
    },
  });

  return {
    ...loop,
    spec,
    get isReady() {
      return nats.isConnected && verifiedGeneration === nats.generation;
    },
  };
}
