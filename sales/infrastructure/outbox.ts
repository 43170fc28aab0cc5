import { SALES_STREAM, SALES_SUBJECTS } from "contracts";
import type { PipelinedTransaction } from "shared";
import { createOutboxWriter, type OutboxHeaders, type OutboxSpec } from "shared/outbox";
import type { EventBus } from "../application/event-bus.ts";

/** Sales' outbox: `sales.outbox_messages`, published to stream `SALES`. */
export const SALES_OUTBOX: OutboxSpec = {
  schema: "sales",
  stream: SALES_STREAM,
  subjects: [SALES_SUBJECTS],
  channel: "sales_outbox",
  marksLock: "sales:outbox-marks",
  refillLock: "sales:outbox-refill",
  metricPrefix: "sales",
};

/**
 * The `EventBus` that stores each event in `sales.outbox_messages` within the caller's
 * transaction (see `createOutboxWriter` in `shared/outbox/writer.ts`).
 */
export function createOutboxEventBus(
  transaction: PipelinedTransaction,
  options: { newEventId: () => string; headers: OutboxHeaders },
): EventBus & { readonly written: number } {
  const writer = createOutboxWriter(transaction, { outbox: SALES_OUTBOX, ...options });
  return {
    get written() {
      return writer.written;
    },
    publish: (event) => writer.write(event),
  };
}
