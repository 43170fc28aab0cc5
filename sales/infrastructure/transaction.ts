import {
  commitInTime,
  isDatabaseUnavailable,
  isPostgresError,
  type PipelinedTransaction,
  pipelineWrites,
  type Sql,
} from "shared";
import type {
  RequestContext,
  RunInTransaction,
  TransactionOptions,
  TransactionScope,
} from "../application/ports.ts";
import { createOutboxEventBus } from "./outbox.ts";
import { createProductRepository } from "./product-repository.ts";

/** Most use cases one transaction carries. */
const MAX_BATCH_SIZE = 64;

/** Told of every transaction that committed shared work, and of work run again alone. */
export type GroupCommitMetrics = {
  committed(useCases: number): void;
  runAgainAlone(useCases: number): void;
};

type QueuedWork = {
  work: (scope: TransactionScope) => Promise<unknown>;
  context: RequestContext;
  /** Queued again after its shared transaction failed: it runs alone this time. */
  alone: boolean;
  resolve: (outcome: unknown) => void;
  reject: (error: unknown) => void;
};

/**
 * Runs use cases in Postgres transactions: a use case's product rows and outbox rows commit
 * together, and not at all once its request's time limit has passed (it was answered 503).
 *
 * Group commit: use cases that only write (`shared`) run in at most `transactionsInFlight`
 * transactions at once, and those that arrive meanwhile wait, then share the next one, so that
 * under load a BEGIN, a COMMIT and their round trips serve several requests; alone, a use case
 * starts at once. One that reads and locks starts at once in a transaction of its own, outside
 * that limit, so that no request waits on another's locks. In a shared transaction:
 * - a use case that fails before it writes anything (e.g. a product not found) fails alone,
 *   once the others have committed;
 * - anything else that fails before COMMIT rolls it back, and each use case is queued again to
 *   run alone, so that one request's error (a duplicate sku, a time limit) stays its own (those
 *   that failed before writing too: they may have failed on what the others wrote);
 * - a COMMIT that Postgres refuses is handled the same way, but one whose connection is lost
 *   fails them all: whether it took effect is unknown.
 *
 * A use case's writes go out together, and COMMIT once they have all succeeded. After a commit
 * that wrote events, `onEventsCommitted` wakes the relay.
 */
export function createRunInTransaction({
  sql,
  newEventId,
  onEventsCommitted,
  transactionsInFlight = 4,
  metrics,
}: {
  sql: Sql;
  newEventId: () => string;
  onEventsCommitted: () => void;
  transactionsInFlight?: number;
  metrics?: GroupCommitMetrics;
}): RunInTransaction {
  const queue: QueuedWork[] = [];
  let running = 0;

  function startTransactions() {
    while (running < transactionsInFlight && queue.length > 0) {
      const batch = takeBatch();
      if (batch.length === 0) continue;
      running++;
      void runTogether(batch).finally(() => {
        running--;
        startTransactions();
      });
    }
  }

  /** The use cases at the head of the queue that can share a transaction, in arrival order. */
  function takeBatch(): QueuedWork[] {
    const batch: QueuedWork[] = [];
    while (queue.length > 0 && batch.length < MAX_BATCH_SIZE) {
      const next = queue[0] as QueuedWork;
      const signal = next.context.deadline?.signal;
      if (signal?.aborted) {
        // Answered 503 while it waited: its work is not done at all.
        queue.shift();
        next.reject(signal.reason);
      } else if (next.alone) {
        if (batch.length === 0) batch.push(queue.shift() as QueuedWork);
        break;
      } else {
        batch.push(queue.shift() as QueuedWork);
      }
    }
    return batch;
  }

  async function runTogether(batch: QueuedWork[]): Promise<void> {
    const done = new Map<QueuedWork, unknown>();
    const failedAlone = new Map<QueuedWork, unknown>();
    let committing = false;
    let eventsWritten = 0;
    try {
      // `sql.begin`, not a reserved connection with a BEGIN sent along with the writes (one
      // round trip fewer): postgres.js 3.4.9 hands a reserved connection that Postgres closed
      // back to the pool, where later queries hang; a transaction rejects when its connection
      // closes.
      await sql.begin(async (connection) => {
        const tx = pipelineWrites(connection);
        try {
          for (const queued of batch) {
            const { outcome, failed, events } = await runOne(tx, queued);
            if (failed) failedAlone.set(queued, outcome);
            else done.set(queued, outcome);
            eventsWritten += events;
          }
          await tx.settled();
        } catch (error) {
          // A failed write is the cause; the reads after it only saw an aborted transaction.
          throw await tx.settled().then(
            () => error,
            (writeError: unknown) => writeError,
          );
        }
        for (const { context } of done.keys()) context.deadline?.signal.throwIfAborted();
        for (const { context } of done.keys()) commitInTime(context.deadline);
        committing = true;
      });
    } catch (error) {
      const others = batch.filter((queued) => !failedAlone.has(queued));
      // Postgres answered the COMMIT with an error: it rolled back. Anything else (a lost
      // connection, a server shutting down) leaves unknown whether it took effect.
      const refused = isPostgresError(error) && !isDatabaseUnavailable(error);
      // The error is theirs: the only one that wrote, or all that did when the outcome is unknown.
      const failing = others.length <= 1 || (committing && !refused) ? others : [];
      for (const { reject } of failing) reject(error);
      if (batch.length === 1) {
        for (const [{ reject }, own] of failedAlone) reject(own);
        return;
      }
      // The rest run again alone, to fail or succeed on their own account. So do those that
      // failed before writing: they may have failed on what the others wrote (a key already
      // used, say), which did not commit, or may not have.
      const again = batch.filter((queued) => !failing.includes(queued));
      for (const { context } of again) if (context.deadline) context.deadline.committing = false;
      queue.unshift(...again.map((queued) => ({ ...queued, alone: true })));
      if (again.length > 0) metrics?.runAgainAlone(again.length);
      return;
    }
    if (eventsWritten > 0) onEventsCommitted();
    if (done.size > 0) metrics?.committed(done.size);
    for (const [{ resolve }, outcome] of done) resolve(outcome);
    for (const [{ reject }, error] of failedAlone) reject(error);
  }

  /**
   * One use case's work in the transaction. It fails alone when it throws before it wrote
   * anything, with an error of its own (not Postgres'): the transaction is then as it was.
   */
  async function runOne(tx: PipelinedTransaction, { work, context }: QueuedWork) {
    let wrote = false;
    const own: PipelinedTransaction = {
      ...tx,
      write(query, onError) {
        wrote = true;
        tx.write(query, onError);
      },
    };
    const headers = context.traceparent ? { traceparent: context.traceparent } : {};
    const eventBus = createOutboxEventBus(own, { newEventId, headers });
    try {
      const outcome = await work({ products: createProductRepository(own), eventBus });
      return { outcome, failed: false, events: eventBus.written };
    } catch (error) {
      if (wrote || isPostgresError(error) || isDatabaseUnavailable(error)) throw error;
      return { outcome: error, failed: true, events: 0 };
    }
  }

  return <T>(
    work: (scope: TransactionScope) => Promise<T>,
    context: RequestContext,
    { shared = false }: TransactionOptions = {},
  ) =>
    new Promise<T>((resolve, reject) => {
      const queued = { work, context, alone: !shared, resolve: resolve as never, reject };
      if (!shared) return void runTogether([queued]);
      queue.push(queued);
      startTransactions();
    });
}
