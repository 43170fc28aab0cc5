import { commitInTime, type Sql } from "shared";
import type { RunInTransaction } from "../application/ports.ts";
import { createOutboxEventBus } from "./outbox.ts";
import { createProductRepository } from "./product-repository.ts";

/**
 * Runs a use case in one Postgres transaction: its product rows and outbox rows commit
 * together, and not at all once the request's time limit has passed (it was answered 503). After
 * a commit that wrote events, `onEventsCommitted` wakes the relay.
 */
export function createRunInTransaction({
  sql,
  newEventId,
  onEventsCommitted,
}: {
  sql: Sql;
  newEventId: () => string;
  onEventsCommitted: () => void;
}): RunInTransaction {
  return async (work, { traceparent, deadline }) => {
    let eventsWritten = 0;
    const headers = traceparent ? { traceparent } : {};
    const result = await sql.begin(async (tx) => {
      const eventBus = createOutboxEventBus(tx, { newEventId, headers });
      const outcome = await work({ products: createProductRepository(tx), eventBus });
      eventsWritten = eventBus.written;
      commitInTime(deadline);
      return outcome;
    });
    if (eventsWritten > 0) onEventsCommitted();
    return result as Awaited<ReturnType<typeof work>>;
  };
}
