import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Sql, Transaction } from "../database.ts";
import { errorMessage } from "../errors.ts";
import { type IntervalLoop, startIntervalLoop } from "../interval-loop.ts";
import type { Logger } from "../logger.ts";
import {
  ensureStream,
  messageAt,
  type NatsLink,
  type NatsNames,
  StreamOfAnotherError,
  type StreamSpec,
  streamInfo,
} from "../nats.ts";
import { DUPLICATE_WINDOW_MS } from "./relay.ts";
import { type OutboxSpec, outboxTable } from "./spec.ts";

export type StreamCheckOptions = {
  sql: Sql;
  nats: NatsLink;
  names: NatsNames;
  outbox: OutboxSpec;
  log: Logger;
  maxAgeMs: number;
  /** Called once the stream is verified on a (new) connection: the relay may publish. */
  onVerified: () => void;
  /** How often to re-check the stream besides every (re)connect. */
  checkIntervalMs?: number;
  /** The check's loop, as its log lines name it. */
  loopName?: string;
};

export type StreamCheck = IntervalLoop & {
  readonly spec: StreamSpec;
  /** True once the stream was ensured and checked for lost messages on the current connection. */
  readonly isReady: boolean;
  /**
   * A publish on one of the stream's subjects found nothing to take it: the stream may be gone.
   * Returns true when the check takes that up: not ready until it has ensured (made) and checked
   * the stream again, which starts now. False when such a check found the stream in place less
   * than a minute ago: then something else keeps the publishes unanswered, and they fail as any
   * error does (counted, backing off) rather than have the stream checked again and again.
   */
  recheckForUnansweredPublish(): boolean;
};

/** How soon to check again after a check failed; the relay waits for a check. */
const RETRY_MS = 1_000;

/**
 * How long the check waits before making again a stream it had verified and finds gone. A
 * stream deleted a moment ago may still be having its files removed, and nats-server 2.9.10
 * left one made at once at that path unable to store anything, its info answering as usual
 * (about 1 in 14 deletions under load; none of 50 with this wait).
 */
const DELETED_STREAM_SETTLE_MS = 1_000;

/**
 * After a recheck for unanswered publishes found the stream in place (not one it had to make
 * again), none again for this long.
 */
const UNANSWERED_RECHECK_MS = 60_000;

type PublishedRow = { id: string; streamSequence: number };

/**
 * Keeps the outbox's stream (e.g. `SALES`: `sales.>`, limits retention, file storage, 2 min
 * duplicate window) in place and whole: ensured as soon as NATS answers, after every reconnect
 * and periodically, and each time checked against what the outbox recorded. A broker can lose
 * acknowledged messages (a power loss, a store wiped): when the stream no longer holds what the
 * outbox says it published, the missing rows are queued again. Their event ids are unchanged,
 * so a consumer's inbox (Orders') recognises whatever it already has.
 */
export function startStreamCheck({
  sql,
  nats,
  names,
  outbox,
  log,
  maxAgeMs,
  onVerified,
  checkIntervalMs = 30_000,
  loopName = "stream-check",
}: StreamCheckOptions): StreamCheck {
  const spec: StreamSpec = {
    name: names.stream(outbox.stream),
    subjects: outbox.subjects.map((subjects) => names.subject(subjects)),
    maxAgeMs,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
    // In the stream's description: two outboxes must never share a stream.
    publisher: `${outbox.schema}.outbox_messages`,
  };
  let verifiedGeneration = -1;
  /** The stream was verified once: if it is gone now, it was deleted. */
  let everVerified = false;
  /**
   * Rechecks asked for by unanswered publishes: a run begun before the last one vouches for
   * nothing.
   */
  let rechecksAsked = 0;
  let recheckPending = false;
  let recheckVerifiedAt = Number.NEGATIVE_INFINITY;
  /** Why the stream of that name is another publisher's, once said. */
  let anotherLogged: string | undefined;
  let manager: { connection: NatsConnection; jsm: JetStreamManager } | undefined;

  async function managerFor(connection: NatsConnection): Promise<JetStreamManager> {
    if (manager?.connection !== connection)
      manager = { connection, jsm: await jetstreamManager(connection) };
    return manager.jsm;
  }

  /** Rows published within the stream's max age: the ones it should still hold. */
  const withinMaxAge = (tx: Transaction) =>
    tx`published_at > now() - ${maxAgeMs} * interval '1 millisecond'`;

  /**
   * The row at the highest sequence the outbox says the stream holds, or nothing to check. By
   * sequence, not by `published_at`: a batch's rows share one, and a row sent again inside the
   * duplicate window gets a new one but keeps its old sequence. Of two rows at one sequence
   * (the stream was deleted and added again), the earlier-published one is from the old stream.
   * Rows below the stream's first sequence are left out: see `requeueLostRows`. With `high`,
   * the newest at or below it.
   */
  async function newestPublished(
    tx: Transaction,
    firstSequence: number,
    high = Number.MAX_SAFE_INTEGER,
  ): Promise<PublishedRow | undefined> {
    const [row] = await tx<PublishedRow[]>`
      select id, stream_sequence from ${outboxTable(tx, outbox)}
      where stream_sequence between ${firstSequence} and ${high} and ${withinMaxAge(tx)}
      order by stream_sequence desc, published_at
      limit 1`;
    return row;
  }

  /**
   * The earliest-published row the stream should still hold (at or past its first sequence,
   * within its max age). A stream deleted and added again numbers its messages from 1 again:
   * this row is then the old stream's, at (or near) the lowest sequence its rows recorded, the
   * first that new messages reach. By `published_at`, not by sequence: retention may have
   * deleted the old stream's lowest rows, leaving the lowest sequences to the new stream's.
   */
  async function oldestPublished(
    tx: Transaction,
    firstSequence: number,
  ): Promise<PublishedRow | undefined> {
    const [row] = await tx<PublishedRow[]>`
      select id, stream_sequence from ${outboxTable(tx, outbox)}
      where stream_sequence >= ${firstSequence} and ${withinMaxAge(tx)}
      order by published_at, stream_sequence
      limit 1`;
    return row;
  }

  /**
   * What the stream holds at the row's recorded sequence: its message, no message, or another
   * one. A failed lookup (a timeout, a dropped connection) fails the whole check, which runs
   * again soon, rather than re-sending the outbox's history.
   */
  const lookUp = (jsm: JetStreamManager, row: PublishedRow) =>
    messageAt(jsm, spec.name, row.streamSequence, row.id);

  /**
   * The sequence of the newest row (from `low` to `high`, within max age) whose message the
   * stream holds; undefined when it holds none of them, "other" when another message is where
   * one should be. A lost tail is a run of missing messages at the top: this steps down from
   * the top in growing strides until it meets a held message, then halves the gap, so it takes
   * a few lookups however long the tail. A message deleted inside the gap can only make it
   * settle lower, which sends more again, never less.
   */
  async function newestHeld(
    tx: Transaction,
    jsm: JetStreamManager,
    low: number,
    high: number,
  ): Promise<number | "other" | undefined> {
    let held: number | undefined;
    let missing = high + 1; // the lowest sequence known to be missing
    for (let upper = high, stride = 1; upper >= low; stride *= 2) {
      const row = await newestPublished(tx, low, upper);
      if (!row) break;
      const status = await lookUp(jsm, row);
      if (status === "other") return "other";
      if (status === "held") {
        held = row.streamSequence;
        break;
      }
      missing = row.streamSequence;
      upper = missing - stride;
    }
    let [from, to] = [held === undefined ? low : held + 1, missing - 1];
    while (from <= to) {
      const row = await newestPublished(tx, from, Math.floor((from + to) / 2));
      if (!row) {
        from = Math.floor((from + to) / 2) + 1;
        continue;
      }
      const status = await lookUp(jsm, row);
      if (status === "other") return "other";
      if (status === "held") {
        held = row.streamSequence;
        from = row.streamSequence + 1;
      } else {
        to = row.streamSequence - 1;
      }
    }
    return held;
  }

  /**
   * Queues again the rows whose messages the server itself reports lost (`state.lost`: damaged
   * and unrecoverable, e.g. after a crash), wherever they were in the stream.
   */
  async function requeueDamaged(tx: Transaction, sequences: number[]): Promise<number> {
    if (sequences.length === 0) return 0;
    const requeued = await tx`
      update ${outboxTable(tx, outbox)}
      set published_at = null, stream_sequence = null, attempts = 0,
          next_attempt_at = 'epoch'::timestamptz + stream_sequence * interval '1 microsecond'
      where ${withinMaxAge(tx)} and stream_sequence = any(${sequences}::bigint[])`;
    if (requeued.count > 0) {
      log.warn(
        { stream: spec.name, requeued: requeued.count },
        "the stream reports messages it lost; publishing them again",
      );
    }
    return requeued.count;
  }

  /**
   * Queues again every published row whose message the stream has lost; returns how many. Holds
   * the relay's marks off meanwhile: a batch acked by the server before it lost its store, and
   * marked after this looked, would otherwise stay "published" with nothing on the stream.
   *
   * Messages gone from the head of the stream (below its first sequence, which only grows) were
   * removed, not lost: by `max_age`, a `max_msgs` or `max_bytes` limit an operator set, or
   * `nats stream purge`; so were messages missing below one it still holds (`nats stream rmm`,
   * a purge by subject). Their rows are not queued again (`outbox:republish` does that on
   * purpose); sending them would undo the operator's removal, or, under a limit, push out
   * others.
   */
  async function requeueLostRows(jsm: JetStreamManager): Promise<number> {
    return sql.begin(async (tx) => {
      // Postgres ends this transaction (and frees the lock) if this process stalls inside it.
      await tx`
        select set_config('idle_in_transaction_session_timeout', '10000', true),
               pg_advisory_xact_lock(hashtext(${outbox.marksLock}))`;
      // Read under the lock: a batch that recorded its acks before this looked is on it.
      const { state } = await jsm.streams.info(spec.name);
      const { first_seq: firstSequence, last_seq: lastSequence } = state;
      const damaged = await requeueDamaged(tx, state.lost?.msgs ?? []);
      const newest = await newestPublished(tx, firstSequence);
      if (!newest) return damaged;
      // Another message where the oldest row should be: the stream is not the one the outbox
      // published to. No message there tells nothing here: it may have expired since the read
      // above, or be past the stream's end (the tail, below).
      const oldest = await oldestPublished(tx, firstSequence);
      const ours = !oldest || (await lookUp(jsm, oldest)) !== "other";
      if (ours && newest.streamSequence <= lastSequence && (await lookUp(jsm, newest)) === "held")
        return damaged;

      // Something is gone. On a stream that is ours, the rows past the newest one it still holds
      // are its lost tail (a server may keep its last sequence over a tail it lost, as over one an
      // operator deleted: only the newest message tells them apart, so a deleted newest one is
      // sent again). Messages missing below a held one were removed on purpose, as at the head.
      // Another message where a row should be: the history is not ours. Either way, only rows it
      // should hold are queued.
      const held = ours
        ? await newestHeld(tx, jsm, firstSequence, Math.min(newest.streamSequence, lastSequence))
        : "other";
      // Messages the head dropped while this looked (max age, a purge) were removed, not lost:
      // the first sequence only grows, so reading it again leaves them out.
      const first = ours ? (await jsm.streams.info(spec.name)).state.first_seq : firstSequence;
      // Due before every waiting row, in their old order: the relay sends them first, in that
      // order, and nothing else until they are all sent (see REQUEUED_BEFORE in relay.ts). Rows
      // published between the loss and this check may have taken some of their sequences.
      const requeued = await tx`
        update ${outboxTable(tx, outbox)}
        set published_at = null, stream_sequence = null, attempts = 0,
            next_attempt_at = 'epoch'::timestamptz + coalesce(stream_sequence, 0) * interval '1 microsecond'
        where ${withinMaxAge(tx)}
          ${
            !ours
              ? tx`` // another stream: its first sequence says nothing of what this one removed
              : held === "other"
                ? tx`and stream_sequence >= ${first}`
                : tx`and stream_sequence > ${held ?? first - 1} and stream_sequence >= ${first}`
          }`;
      log.warn(
        {
          stream: spec.name,
          lastSequence,
          recordedSequence: newest.streamSequence,
          requeued: requeued.count,
        },
        "the stream lost messages the outbox had published; publishing them again",
      );
      return damaged + requeued.count;
    });
  }

  const loop = startIntervalLoop({
    name: loopName,
    intervalMs: checkIntervalMs,
    log,
    run: async () => {
      const connection = nats.connection;
      const generation = nats.generation;
      const asked = rechecksAsked;
      if (!connection || !nats.isConnected) return;
      try {
        const jsm = await managerFor(connection);
        if (everVerified && !(await streamInfo(jsm, spec.name))) {
          await Bun.sleep(DELETED_STREAM_SETTLE_MS);
        }
        const { outcome } = await ensureStream(jsm, spec);
        anotherLogged = undefined;
        if (outcome !== "unchanged") log.info({ stream: spec.name, outcome }, "stream ensured");
        await requeueLostRows(jsm);
        // A recheck was asked for meanwhile: what this run saw may predate it. The next run,
        // woken by the request, verifies.
        if (rechecksAsked !== asked) return;
        if (recheckPending) {
          recheckPending = false;
          // Made (or changed) anew: that was why. Found in place: something else is.
          recheckVerifiedAt =
            outcome === "unchanged" ? performance.now() : Number.NEGATIVE_INFINITY;
        }
        everVerified = true;
        if (verifiedGeneration !== generation) {
          verifiedGeneration = generation;
          onVerified();
        }
      } catch (error) {
        if (error instanceof StreamOfAnotherError) {
          verifiedGeneration = -1;
          if (anotherLogged !== error.message) log.error({ stream: spec.name }, error.message);
          anotherLogged = error.message;
          return;
        }
        // Logged by the loop, once a minute while it fails the same way (Postgres down, say).
        throw new Error(`cannot ensure stream ${spec.name}: ${errorMessage(error)}`, {
          cause: error,
        });
      }
    },
    retryAfterFailureMs: RETRY_MS, // e.g. JetStream still starting after a server restart
  });

  return {
    ...loop,
    spec,
    get isReady() {
      return nats.isConnected && verifiedGeneration === nats.generation;
    },
    recheckForUnansweredPublish() {
      if (recheckPending) return true;
      if (performance.now() - recheckVerifiedAt < UNANSWERED_RECHECK_MS) return false;
      recheckPending = true;
      rechecksAsked++;
      verifiedGeneration = -1;
      loop.wake();
      return true;
    },
  };
}
