import { commitInTime, pipelineWrites, type Sql } from "shared";
import type { RequestContext, RunInTransaction, TransactionScope } from "../application/ports.ts";
import { createOutboxEventBus } from "./outbox.ts";
import { createProductRepository } from "./product-repository.ts";

/** Most use cases one transaction carries. */
const MAX_BATCH_SIZE = 64;

type QueuedWork = {
  work: (scope: TransactionScope) => Promise<unknown>;
  context: RequestContext;
  resolve: (outcome: unknown) => void;
  reject: (error: unknown) => void;
};

/**
 * Runs use cases in Postgres transactions: a use case's product rows and outbox rows commit
 * together, and not at all once its request's time limit has passed (it was answered 503).
 *
 * Group commit: at most `transactionsInFlight` transactions run at once, and use cases that
 * arrive meanwhile wait, then share the next one. Alone, a use case starts at once; under load,
 * a BEGIN, a COMMIT and their round trips serve several requests. If anything in a shared
 * transaction fails before its COMMIT, it rolls back and each use case runs again in a
 * transaction of its own, so one request's error (a duplicate sku, a product not found, a time
 * limit) is its own. A COMMIT that fails fails them all: whether it took effect is unknown.
 *
 * A use case's writes go out together, and COMMIT once they have all succeeded. After a commit
 * that wrote events, `onEventsCommitted` wakes the relay.
 */
export function createRunInTransaction({
  sql,
  newEventId,
  onEventsCommitted,
  transactionsInFlight = 4,
}: {
  sql: Sql;
  newEventId: () => string;
  onEventsCommitted: () => void;
  transactionsInFlight?: number;
}): RunInTransaction {
  const queue: QueuedWork[] = [];
  let running = 0;

  function startTransactions() {
    while (running < transactionsInFlight && queue.length > 0) {
      running++;
      void runTogether(queue.splice(0, MAX_BATCH_SIZE)).finally(() => {
        running--;
        startTransactions();
      });
    }
  }

  async function runTogether(batch: QueuedWork[]): Promise<void> {
    let committing = false;
    let eventsWritten = 0;
    try {
      // `sql.begin`, not a reserved connection with a BEGIN sent along with the writes (one
      // round trip fewer): postgres.js 3.4.9 hands a reserved connection that Postgres closed
      // back to the pool, where later queries hang; a transaction rejects when its connection
      // closes.
      const outcomes = await sql.begin(async (connection) => {
        const tx = pipelineWrites(connection);
        const results: unknown[] = [];
        try {
          for (const { work, context } of batch) {
            const headers = context.traceparent ? { traceparent: context.traceparent } : {};
            const eventBus = createOutboxEventBus(tx, { newEventId, headers });
            results.push(await work({ products: createProductRepository(tx), eventBus }));
            eventsWritten += eventBus.written;
          }
          await tx.settled();
        } catch (error) {
          // A failed write is the cause; the reads after it only saw an aborted transaction.
          throw await tx.settled().then(
            () => error,
            (writeError: unknown) => writeError,
          );
        }
        for (const { context } of batch) context.deadline?.signal.throwIfAborted();
        for (const { context } of batch) commitInTime(context.deadline);
        committing = true;
        return results;
      });
      if (eventsWritten > 0) onEventsCommitted();
      for (const [index, { resolve }] of batch.entries()) resolve(outcomes[index]);
    } catch (error) {
      if (batch.length === 1 || committing) {
        for (const { reject } of batch) reject(error);
        return;
      }
      // Nothing committed: each runs again alone, to fail (or succeed) on its own account.
      await Promise.all(batch.map((work) => runTogether([work])));
    }
  }

  return <T>(work: (scope: TransactionScope) => Promise<T>, context: RequestContext) =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work, context, resolve: resolve as (outcome: unknown) => void, reject });
      startTransactions();
    });
}
