import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { InvalidArgumentError, headers as natsHeaders } from "@nats-io/nats-core";
import { retryDelayMs } from "../backoff.ts";
import { listenForWakeUps, type Sql, type Transaction } from "../database.ts";
import { errorMessage } from "../errors.ts";
import { type IntervalLoop, startIntervalLoop } from "../interval-loop.ts";
import type { Logger } from "../logger.ts";
import {
  isJetStreamApiError,
  isUnansweredPublish,
  messageAt,
  type NatsLink,
  type NatsNames,
  subjectMatches,
} from "../nats.ts";
import { createRelayOutcomeLog } from "./relay-log.ts";
import { type OutboxSpec, outboxTable } from "./spec.ts";
import type { OutboxHeaders } from "./writer.ts";

/**
 * Rows the stream check re-queued (a lost tail) are due from 1970 on, one microsecond per old
 * sequence: their place in line, which a failure never takes from them. Until they are all sent
 * again, nothing else is sent, and one relay (holding the outbox's `refillLock`) sends them in
 * that order, each expecting the last sequence the one before it took, stopping at the first
 * that fails: a message sent out of turn would take the sequence of another, one that consumers
 * may have passed.
 */
export const REQUEUED_BEFORE = "1971-01-01T00:00:00Z";

/**
 * A re-queued row that fails this many times (its retry delays, which each relay keeps for
 * itself, add up to about 7 to 13 minutes) is parked, so that it no longer holds back every new
 * event; `outbox:republish --id` sends it again.
 */
export const REFILL_MAX_ATTEMPTS = 20;

/** JetStream drops a re-sent `Nats-Msg-Id` seen within this window (the stream's setting). */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

/**
 * How long a row waits after a publish nothing answered that the stream check takes up (the
 * stream gone): the check makes the stream again meanwhile, and wakes the relay.
 */
const UNANSWERED_WAIT_MS = 1_000;

/** JetStream's "message size exceeds maximum allowed": the stream will never take this row. */
const MESSAGE_TOO_LARGE = 10054;

/**
 * The stream will never take this message: the client refused it as larger than the server's
 * `max_payload` (body and headers together), or JetStream refused it as too large.
 */
function isTooLarge(error: unknown): boolean {
  if (error instanceof JetStreamApiError) return error.code === MESSAGE_TOO_LARGE;
  return error instanceof InvalidArgumentError && error.message.includes("max_payload");
}

export type OutboxRelayOptions = {
  sql: Sql;
  nats: NatsLink;
  names: NatsNames;
  outbox: OutboxSpec;
  log: Logger;
  /** False while a (re)connection's stream check is pending: publishing waits for it. */
  isStreamReady?: () => boolean;
  /**
   * A publish on a subject of the stream's found nothing to take it. True when that is taken for
   * the stream gone (it is checked and made again now, and the failure not counted against the
   * row); false when the stream was checked again since the last such failure, and found there.
   */
  onUnansweredPublish?: () => boolean;
  pollMs: number;
  batchSize: number;
  publishTimeoutMs?: number;
  /** Retry delay after `attempts` failures; capped exponential backoff with jitter by default. */
  retryDelay?: (attempts: number) => number;
  metrics?: OutboxRelayMetrics;
};

/** Told the outcome of every batch that claimed rows (see `metrics.ts`). */
export type OutboxRelayMetrics = {
  batch(result: {
    seconds: number;
    published: number;
    duplicates: number;
    failed: number;
    parked: number;
  }): void;
};

export type DueRow = {
  id: string;
  type: string;
  subject: string;
  body: string;
  headers: OutboxHeaders;
  attempts: number;
};

export type PublishedOutcome = {
  row: DueRow;
  published: true;
  sequence: number;
  duplicate: boolean;
};
export type FailedOutcome = {
  row: DueRow;
  published: false;
  error: string;
  park: boolean;
  /** Sent again after this long, the failure not counted: no fault of the row's. */
  waitMs?: number;
};
export type Outcome = PublishedOutcome | FailedOutcome;

/**
 * JetStream answered "duplicate" for a message it no longer holds: removed (purged, deleted, or
 * pushed out by a limit) within the duplicate window, which still remembers its id.
 */
const REMEMBERED_NOT_HELD = `the stream remembers this event id but no longer holds its message; sending it again once its ${DUPLICATE_WINDOW_MS / 60_000} min duplicate window has passed`;

export type OutboxRelay = IntervalLoop & {
  /** Publishes one batch now; resolves with the number of rows it published. For tests and tools. */
  relayOnce(): Promise<number>;
};

/**
 * Drains the module's `outbox_messages` to JetStream. Each run claims a batch of due rows with
 * `FOR UPDATE SKIP LOCKED` (so several relays never send the same row at once), publishes
 * them all concurrently with `Nats-Msg-Id` = event id, waits for every PubAck, and records
 * the outcome of each row in the same transaction. A full batch that published something runs
 * again at once; a full batch of failures waits for the next poll.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { sql, nats, names, outbox, log, pollMs, batchSize } = options;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
  const retryDelay = options.retryDelay ?? ((attempts: number) => retryDelayMs(attempts));
  const isStreamReady = options.isStreamReady ?? (() => true);

  /** After a failed refill, when the loop tries it again (wake-ups do not hurry it). */
  let refillPausedUntil = 0;
  const logOutcomes = createRelayOutcomeLog(log);

  async function relayBatch({ refill }: { refill: boolean }) {
    const started = performance.now();
    // What the connection was when the batch began: its acks count only if it is still the
    // same, verified connection when they are recorded (see markPublished).
    const generation = nats.generation;
    const verified = nats.isConnected && isStreamReady();
    // Claiming may wait (for a connection, a lock), and NATS may come back meanwhile, its
    // stream not checked yet: nothing goes out there, or it could land ahead of what the check
    // puts back. Asked right before the publishes, in the same turn of the event loop.
    const mayPublish = () =>
      verified && nats.isConnected && nats.generation === generation && isStreamReady();
    return sql.begin(async (tx) => {
      let rows = await claimDue(tx);
      const refilling = rows.length === 0 && refill;
      if (refilling) rows = await claimRequeued(tx);
      if (rows.length === 0) return { claimed: 0, published: 0, refillFailed: false };

      const outcomes = refilling
        ? await publishInTurn(rows, mayPublish)
        : mayPublish()
          ? await publishAll(rows)
          : undefined;
      if (!outcomes) {
        log.info(
          { count: rows.length },
          "NATS reconnected before this batch went out; left for after the stream check",
        );
        return { claimed: 0, published: 0, refillFailed: false };
      }
      const published = outcomes.filter((o) => o.published);
      const failed = outcomes.filter((o) => !o.published);
      const refused =
        published.length > 0
          ? await markPublished(tx, published, { generation, verified })
          : undefined;
      if (refused) {
        // Sent again without counting an attempt; JetStream drops the copies it already has.
        await tx`
          update ${outboxTable(tx, outbox)}
          set next_attempt_at = least(next_attempt_at, now()),
              last_error = ${`${refused}; sending it again`}
          where id = any(${published.map((o) => o.row.id)}::uuid[])`;
        log.info(
          { count: published.length, reason: refused },
          "events acked but not recorded; sending them again",
        );
      }
      if (failed.length > 0) {
        await tx`
          update ${outboxTable(tx, outbox)} as o
          set attempts = o.attempts + f.counted::int,
              last_error = f.error,
              -- A row the stream check re-queued keeps its place in line (see REQUEUED_BEFORE).
              next_attempt_at = case when o.next_attempt_at < ${REQUEUED_BEFORE}::timestamptz
                                     then o.next_attempt_at
                                     else now() + f.delay_ms * interval '1 millisecond' end,
              parked_at = case when f.park then now() end
          from unnest(${failed.map((o) => o.row.id)}::uuid[],
                      ${failed.map((o) => o.error)}::text[],
                      ${failed.map((o) => o.waitMs ?? retryDelay(o.row.attempts + 1))}::int[],
                      ${tx.array(failed.map((o) => o.park))}::bool[],
                      ${tx.array(failed.map((o) => o.waitMs === undefined))}::bool[])
            as f(id, error, delay_ms, park, counted)
          where o.id = f.id`;
      }
      const recorded = refused ? [] : published;
      logOutcomes([...recorded, ...failed]);
      options.metrics?.batch({
        seconds: (performance.now() - started) / 1000,
        published: recorded.length,
        duplicates: recorded.filter((o) => o.published && o.duplicate).length,
        failed: failed.length,
        parked: failed.filter((o) => !o.published && o.park).length,
      });
      const [stopped] = failed;
      if (refilling && stopped && !stopped.park) {
        refillPausedUntil =
          performance.now() + (stopped.waitMs ?? retryDelay(stopped.row.attempts + 1));
      }
      return {
        claimed: rows.length,
        published: recorded.length,
        refillFailed: refilling && failed.length > 0,
      };
    });
  }

  /**
   * Due rows, in turn, skipping those another relay holds; none while re-queued rows wait to be
   * sent again, wherever they are (see REQUEUED_BEFORE).
   */
  function claimDue(tx: Transaction): Promise<DueRow[]> {
    return tx<DueRow[]>`
      select id, type, subject, payload::text as body, headers, attempts
      from ${outboxTable(tx, outbox)}
      where published_at is null and parked_at is null and next_attempt_at <= now()
        and not exists (select from ${outboxTable(tx, outbox)}
                        where published_at is null and parked_at is null
                          and next_attempt_at < ${REQUEUED_BEFORE}::timestamptz)
      order by next_attempt_at
      limit ${batchSize}
      for update skip locked`;
  }

  /**
   * The re-queued rows at the head of the line, if no other relay is sending them. The lock is
   * taken before they are read, so this read sees what the relay that held it last sent; they
   * are locked in turn, waiting (as long as `lock_timeout`) for one that another transaction
   * holds rather than skipping it.
   */
  async function claimRequeued(tx: Transaction): Promise<DueRow[]> {
    const [refill] = await tx<{ allowed: boolean | null }[]>`
      select case when exists (select from ${outboxTable(tx, outbox)}
                               where published_at is null and parked_at is null
                                 and next_attempt_at < ${REQUEUED_BEFORE}::timestamptz)
                  then pg_try_advisory_xact_lock(hashtext(${outbox.refillLock})) end as allowed`;
    if (!refill?.allowed) return [];
    return tx<DueRow[]>`
      select id, type, subject, payload::text as body, headers, attempts
      from ${outboxTable(tx, outbox)}
      where published_at is null and parked_at is null
        and next_attempt_at < ${REQUEUED_BEFORE}::timestamptz
      order by next_attempt_at
      limit ${batchSize}
      for update`;
  }

  /**
   * Records the batch's acks, or returns why it may not. Acks count only if NATS stayed on the
   * connection the stream check had verified before the batch began (else they may come from a
   * server that has lost its store since, or from a stream not checked yet), and not while the
   * check is re-queueing (it would not see these marks): the marks take its lock shared, or are
   * not written at all.
   */
  async function markPublished(
    tx: Transaction,
    published: PublishedOutcome[],
    batch: { generation: number; verified: boolean },
  ): Promise<string | undefined> {
    if (!batch.verified || nats.generation !== batch.generation) {
      return "NATS reconnected while this row was being published";
    }
    const marked = await tx`
      with marks as (
        select pg_try_advisory_xact_lock_shared(hashtext(${outbox.marksLock})) as allowed
      )
      update ${outboxTable(tx, outbox)} as o
      set published_at = now(), stream_sequence = p.sequence, last_error = null
      from unnest(${published.map((o) => o.row.id)}::uuid[],
                  ${published.map((o) => o.sequence)}::bigint[]) as p(id, sequence), marks
      where o.id = p.id and marks.allowed`;
    return marked.count === 0
      ? "the stream check was re-queueing while this row was being published"
      : undefined;
  }

  /** Publishes a batch all at once. */
  function publishAll(rows: DueRow[]): Promise<Outcome[]> {
    const publish = publisher();
    return Promise.all(rows.map((row) => publish(row)));
  }

  /**
   * Publishes re-queued rows in turn: all at once, each expecting the stream's last sequence to
   * be the one the row before it took (`Nats-Expected-Last-Sequence`), so none lands out of turn.
   * The rows after the first that fails are left as they are, next in line (the stream refused
   * them as out of turn, or took what it already had). One that has failed `REFILL_MAX_ATTEMPTS`
   * times is parked instead. Nothing at all (undefined) if `mayPublish` says no once the stream's
   * last sequence is known.
   */
  async function publishInTurn(
    rows: DueRow[],
    mayPublish: () => boolean,
  ): Promise<Outcome[] | undefined> {
    const [first] = rows as [DueRow, ...DueRow[]];
    let last: number;
    try {
      last = await streamLastSequence();
    } catch (error) {
      if (isJetStreamApiError(error, JetStreamApiCodes.StreamNotFound)) {
        return [streamMissing(first, `stream ${names.stream(outbox.stream)} not found`)];
      }
      return [{ row: first, published: false, error: errorMessage(error), park: false }];
    }
    if (!mayPublish()) return undefined;
    const publish = publisher();
    const outcomes = await Promise.all(rows.map((row, i) => publish(row, last + i)));
    const stop = outcomes.findIndex((outcome) => !outcome.published);
    const stopped = outcomes[stop];
    if (!stopped || stopped.published) return outcomes;
    if (stopped.waitMs === undefined && stopped.row.attempts + 1 >= REFILL_MAX_ATTEMPTS) {
      stopped.park = true;
      stopped.error = `${stopped.error}; parked after ${REFILL_MAX_ATTEMPTS} attempts to send it again, so that it no longer holds back new events: outbox:republish --id sends it`;
    }
    return outcomes.slice(0, stop + 1);
  }

  /**
   * A row that found no stream: not counted while the stream check takes it up, as any failure
   * once the check has found the stream there since the last one (something else is wrong).
   */
  function streamMissing(row: DueRow, error: string): FailedOutcome {
    const checking = options.onUnansweredPublish?.() ?? false;
    return checking
      ? {
          row,
          published: false,
          error: `${error}; checking the stream again`,
          park: false,
          waitMs: UNANSWERED_WAIT_MS,
        }
      : { row, published: false, error, park: false };
  }

  async function streamLastSequence(): Promise<number> {
    const connection = nats.connection;
    if (!connection || !nats.isConnected) throw new Error("NATS is not connected");
    const manager = await jetstreamManager(connection, { checkAPI: false });
    return (await manager.streams.info(names.stream(outbox.stream))).state.last_seq;
  }

  /**
   * Publishes one row on the connection of the moment, with its event id as `Nats-Msg-Id`, and,
   * if given, the stream's last sequence it expects before it.
   */
  function publisher(): (row: DueRow, expectedLastSequence?: number) => Promise<Outcome> {
    const connection = nats.connection;
    if (!connection || !nats.isConnected) {
      return async (row) => ({
        row,
        published: false,
        error: "NATS is not connected",
        park: false,
      });
    }
    const js = jetstream(connection, { timeout: publishTimeoutMs });
    let manager: Promise<JetStreamManager> | undefined;
    const stream = names.stream(outbox.stream);
    return async (row: DueRow, expectedLastSequence?: number): Promise<Outcome> => {
      const headers = natsHeaders();
      headers.set("Content-Type", "application/cloudevents+json");
      if (row.headers.traceparent) headers.set("traceparent", row.headers.traceparent);
      try {
        const ack = await js.publish(names.subject(row.subject), row.body, {
          msgID: row.id,
          headers,
          ...(expectedLastSequence !== undefined && {
            expect: { lastSequence: expectedLastSequence },
          }),
        });
        // Rare (a retry, a republish): worth a lookup, so a row is never marked published
        // with a message the stream has dropped.
        if (ack.duplicate) {
          manager ??= jetstreamManager(connection, { checkAPI: false });
          if ((await messageAt(await manager, stream, ack.seq, row.id)) !== "held") {
            return {
              row,
              published: false,
              error: REMEMBERED_NOT_HELD,
              park: false,
              waitMs: DUPLICATE_WINDOW_MS,
            };
          }
        }
        return { row, published: true, sequence: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        // On a subject of the stream's, likely the stream gone. (One outside them fails as any
        // error does: a row no stream of this outbox will ever take.)
        const ofTheStream = outbox.subjects.some((filter) => subjectMatches(filter, row.subject));
        if (isUnansweredPublish(error) && ofTheStream) {
          return streamMissing(
            row,
            `nothing took the publish: no stream takes its subject (stream ${stream} deleted?), or JetStream is unavailable`,
          );
        }
        if (!isTooLarge(error)) {
          return { row, published: false, error: errorMessage(error), park: false };
        }
        const maxPayload = connection.info?.max_payload ?? "unknown";
        const size = Buffer.byteLength(row.body);
        const tooLarge = `message of ${size} bytes and its headers exceeds the server's max_payload of ${maxPayload}`;
        return { row, published: false, error: tooLarge, park: true };
      }
    };
  }

  const loop = startIntervalLoop({
    name: "outbox-relay",
    intervalMs: pollMs,
    log,
    run: async () => {
      // Nothing to do until NATS answers and the stream is checked on this connection (the
      // check wakes us): rows claimed meanwhile could only fail, losing their place in line.
      if (!nats.isConnected || !isStreamReady()) return false;
      const { claimed, published, refillFailed } = await relayBatch({
        refill: performance.now() >= refillPausedUntil,
      });
      // A full batch of failures waits for the next poll; a failed refill, its retry delay.
      if (refillFailed) return Math.max(1, refillPausedUntil - performance.now());
      return claimed === batchSize && published > 0;
    },
  });

  const wakeUps = listenForWakeUps(sql, outbox.channel, loop.wake, log);

  return {
    wake: loop.wake,
    async stop() {
      await loop.stop();
      await wakeUps.stop();
    },
    async relayOnce() {
      return (await relayBatch({ refill: true })).published;
    },
  };
}

/** Makes every waiting row due now, e.g. when NATS is back after an outage. */
export async function makePendingRowsDue(sql: Sql, outbox: OutboxSpec): Promise<number> {
  const result = await sql`
    update ${outboxTable(sql, outbox)} set next_attempt_at = now()
    where published_at is null and parked_at is null and next_attempt_at > now()`;
  return result.count;
}
