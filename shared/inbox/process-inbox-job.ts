import * as v from "valibot";
import { retryDelayMs } from "../backoff.ts";
import {
  isDatabaseUnavailable,
  isTransactionConflict,
  listenForWakeUps,
  type PipelinedTransaction,
  pipelineWrites,
  type Sql,
  type Transaction,
} from "../database.ts";
import { errorMessage } from "../errors.ts";
import { type IntervalLoop, startIntervalLoop } from "../interval-loop.ts";
import type { Logger } from "../logger.ts";
import { traceIdOf } from "../trace.ts";
import { toIssues } from "../validation.ts";
import { type InboxSpec, inboxTable } from "./spec.ts";

/** A handler threw while a batch ran without savepoints: run the batch again, isolated. */
class HandlerFailed extends Error {
  override readonly name = "HandlerFailed";
  constructor(cause: unknown) {
    super(errorMessage(cause), { cause });
  }
}

/** What the job reads of an event, besides its id and type: what its log lines carry. */
export type HandledEvent = { id: string; type: string; subject: string; traceparent?: string };

/** What a handler is given: the message's transaction, its writes sent together, and a logger. */
export type InboxHandlerContext = { sql: PipelinedTransaction; log: Logger };

/** The handler for `event`, bound to it; undefined when the module does not handle its type. */
export type InboxHandlerFor<E extends HandledEvent> = (
  event: E,
) => ((context: InboxHandlerContext) => Promise<void>) | undefined;

export type ProcessInboxJobOptions<E extends HandledEvent> = {
  sql: Sql;
  /** The table it applies; out-of-process writers (e.g. `inbox:replay`) `NOTIFY` its channel. */
  inbox: Pick<InboxSpec, "schema" | "channel">;
  /** Reads a stored payload as an event: the module's schema of every event it takes. */
  eventSchema: v.GenericSchema<unknown, E>;
  /** Whether this version has a handler for a type; a row of another type is ignored again. */
  handles: (type: string) => boolean;
  handlerFor: InboxHandlerFor<E>;
  log: Logger;
  pollMs: number;
  batchSize: number;
  /** After this many failed attempts a row is dead: no more retries until replayed. */
  maxAttempts: number;
  retryDelay?: (attempts: number) => number;
  metrics?: ProcessInboxJobMetrics;
};

/** Told of every message handled and every batch committed (see `metrics.ts`). */
export type ProcessInboxJobMetrics = {
  handled(type: string, seconds: number, outcome: "processed" | "failed"): void;
  batch(result: ProcessedBatch & { seconds: number; dead: number }): void;
};

type PendingRow = {
  id: string;
  type: string | null;
  payload: unknown;
  attempts: number;
};

type Failure = { id: string; error: string; attempts: number; final: boolean };

export type ProcessedBatch = { claimed: number; processed: number; failed: number };

export type ProcessInboxJob = IntervalLoop;

/**
 * `ProcessInboxJob`: applies stored messages through their handlers. Each run claims due
 * pending rows in arrival order with `FOR UPDATE SKIP LOCKED` and handles them in one
 * transaction: a handler's effects and the row's "processed" mark commit together, and a
 * failing handler rolls back only its own message (savepoints), which is retried with backoff
 * until it is dead.
 */
export function startProcessInboxJob<E extends HandledEvent>(
  options: ProcessInboxJobOptions<E>,
): ProcessInboxJob {
  const { sql, inbox, eventSchema, handles, handlerFor, log, pollMs, batchSize, maxAttempts } =
    options;
  const retryDelay = options.retryDelay ?? ((attempts: number) => retryDelayMs(attempts));

  /**
   * Most batches fail nowhere, so a batch is first applied without savepoints, the handlers'
   * writes all sent together. If a handler or one of those writes fails, that attempt rolls
   * back whole and the batch is applied again with a savepoint per message, so only the failing
   * message's effects go.
   */
  async function processBatch(): Promise<ProcessedBatch> {
    try {
      return await applyBatch({ isolated: false });
    } catch (error) {
      if (!(error instanceof HandlerFailed)) throw error;
      return applyBatch({ isolated: true });
    }
  }

  async function applyBatch({ isolated }: { isolated: boolean }): Promise<ProcessedBatch> {
    const started = performance.now();
    let dead = 0;
    const applied: { log: Logger; subject: string }[] = [];
    const invalid: { id: string; type: string | null; error: string }[] = [];
    const unhandled: { id: string; type: string }[] = [];
    const handled: { type: string; seconds: number; outcome: "processed" | "failed" }[] = [];
    const batch = await sql.begin(async (tx) => {
      const rows = await tx<PendingRow[]>`
        select id, type, payload, attempts
        from ${inboxTable(tx, inbox)}
        where status = 'pending' and next_attempt_at <= now()
        order by position
        limit ${batchSize}
        for update skip locked`;
      const processed: string[] = [];
      const ignored: string[] = [];
      const failures: Failure[] = [];
      const writes = pipelineWrites(tx);

      for (const row of rows) {
        // Re-queued by `inbox:replay` for a version that handles it, and claimed here by an
        // instance still running an older one: not this message's fault, so not dead.
        if (row.type !== null && !handles(row.type)) {
          ignored.push(row.id);
          unhandled.push({ id: row.id, type: row.type });
          continue;
        }
        const parsed = v.safeParse(eventSchema, row.payload);
        if (!parsed.success) {
          const issues = toIssues(parsed.issues).map((i) => `${i.path}: ${i.message}`);
          const error = `not a valid event: ${issues.join("; ")}`;
          failures.push({ id: row.id, error, attempts: row.attempts + 1, final: true });
          invalid.push({ id: row.id, type: row.type, error });
          continue;
        }
        const event = parsed.output;
        const handle = handlerFor(event);
        if (!handle) {
          ignored.push(row.id);
          continue;
        }
        const eventLog = log.child({
          eventId: event.id,
          type: event.type,
          traceId: traceIdOf(event.traceparent),
        });
        const handlerStarted = performance.now();
        const timed = (outcome: "processed" | "failed") =>
          handled.push({ type: event.type, seconds: secondsSince(handlerStarted), outcome });
        try {
          if (isolated) {
            await tx.savepoint(async (sp) => {
              const own = pipelineWrites(sp);
              await handle({ sql: own, log: eventLog });
              await own.settled();
            });
          } else {
            // A handler that throws before returning its promise fails the batch all the same.
            try {
              await handle({ sql: writes, log: eventLog });
            } catch (error) {
              throw new HandlerFailed(error);
            }
          }
          timed("processed");
          processed.push(row.id);
          applied.push({ log: eventLog, subject: event.subject });
        } catch (error) {
          // Postgres gone is no message's fault: the batch fails whole, and is tried again.
          if (error instanceof HandlerFailed || isDatabaseUnavailable(error)) throw error;
          timed("failed");
          // A deadlock with another instance's batch is not the message's fault.
          const conflict = isTransactionConflict(error);
          const attempts = conflict ? row.attempts : row.attempts + 1;
          const final = attempts >= maxAttempts;
          failures.push({ id: row.id, error: errorMessage(error), attempts, final });
          eventLog[final ? "error" : "warn"](
            { attempts, err: errorMessage(error) },
            final
              ? "event dead"
              : conflict
                ? "event met a concurrent transaction, will retry (not counted as an attempt)"
                : "event failed, will retry",
          );
        }
      }

      // Whose write failed is not known here: the batch runs again, a savepoint per message.
      await writes.settled().catch((error) => {
        throw new HandlerFailed(error);
      });
      await recordOutcomes(tx, inbox, { processed, ignored, failures }, retryDelay);
      dead = failures.filter((f) => f.final).length;
      return { claimed: rows.length, processed: processed.length, failed: failures.length };
    });
    // Only now is it true: the handlers' effects and the "processed" marks have committed.
    for (const { log: eventLog, subject } of applied) eventLog.info({ subject }, "event applied");
    // Not in the loop: a batch that fails runs again, isolated, and would log these twice.
    for (const { id, type, error } of invalid)
      log.error({ eventId: id, type, err: error }, "event dead");
    for (const [type, ids] of Map.groupBy(unhandled, (row) => row.type)) {
      log.warn(
        { type, count: ids.length, eventIds: ids.slice(0, 10).map((row) => row.id) },
        "no handler for this type in this version: stored as ignored again (inbox:replay --all-ignored applies them once every instance handles the type)",
      );
    }
    for (const { type, seconds, outcome } of handled)
      options.metrics?.handled(type, seconds, outcome);
    if (batch.claimed > 0)
      options.metrics?.batch({ ...batch, seconds: secondsSince(started), dead });
    return batch;
  }

  const loop = startIntervalLoop({
    name: "process-inbox",
    intervalMs: pollMs,
    log,
    run: async () => (await processBatch()).claimed === batchSize,
  });

  const wakeUps = listenForWakeUps(sql, inbox.channel, loop.wake, log);

  return {
    wake: loop.wake,
    async stop() {
      await loop.stop();
      await wakeUps.stop();
    },
  };
}

/**
 * Marks a batch's rows, in the transaction that applied them: processed, ignored (no handler),
 * or failed, each failure with its attempts and error, due again after its backoff or dead.
 */
async function recordOutcomes(
  tx: Transaction,
  inbox: Pick<InboxSpec, "schema">,
  { processed, ignored, failures }: { processed: string[]; ignored: string[]; failures: Failure[] },
  retryDelay: (attempts: number) => number,
) {
  if (processed.length > 0) {
    await tx`
      update ${inboxTable(tx, inbox)}
      set status = 'processed', processed_at = clock_timestamp(), last_error = null
      where id = any(${processed}::uuid[])`;
  }
  if (ignored.length > 0) {
    await tx`
      update ${inboxTable(tx, inbox)} set status = 'ignored', last_error = 'no handler for this type'
      where id = any(${ignored}::uuid[])`;
  }
  if (failures.length > 0) {
    await tx`
      update ${inboxTable(tx, inbox)} as m
      set attempts = f.attempts,
          last_error = f.error,
          status = case when f.final then 'dead' else 'pending' end,
          next_attempt_at = now() + f.delay_ms * interval '1 millisecond'
      from unnest(${failures.map((f) => f.id)}::uuid[], ${failures.map((f) => f.error)}::text[],
                  ${failures.map((f) => f.attempts)}::int[], ${tx.array(failures.map((f) => f.final))}::bool[],
                  ${failures.map((f) => retryDelay(f.attempts))}::int[])
        as f(id, error, attempts, final, delay_ms)
      where m.id = f.id`;
  }
}

const secondsSince = (start: number) => (performance.now() - start) / 1000;
