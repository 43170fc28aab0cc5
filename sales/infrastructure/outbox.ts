import type { PipelinedTransaction } from "shared";
import type { EventBus } from "../application/event-bus.ts";

/** Headers the relay sets on the NATS message besides `Nats-Msg-Id` and `Content-Type`. */
export type OutboxHeaders = { traceparent?: string };

/**
 * The `EventBus` that stores each event in `sales.outbox_messages` within the caller's
 * transaction (the insert goes out with the transaction's other writes). The event id is
 * minted here, once: every publish attempt reuses it, as the CloudEvents `id` and as the
 * `Nats-Msg-Id` that lets JetStream drop duplicates.
 */
export function createOutboxEventBus(
  { sql: tx, write }: PipelinedTransaction,
  { newEventId, headers }: { newEventId: () => string; headers: OutboxHeaders },
): EventBus & { readonly written: number } {
  let written = 0;
  return {
    get written() {
      return written;
    },
    publish(event) {
      const id = newEventId();
      // The trace context travels in the event too, so Orders need not decode NATS headers.
      const payload = {
        ...event,
        id,
        ...(headers.traceparent && { traceparent: headers.traceparent }),
      };
      // The NATS subject is the event type (`sales.product.created.v1`), not the CloudEvents `subject`.
      const natsSubject = event.type;
      write(tx`
        insert into sales.outbox_messages (id, type, subject, payload, headers, occurred_at)
        values (${id}, ${event.type}, ${natsSubject}, ${tx.json(payload)}, ${tx.json(headers)},
                clock_timestamp())`);
      written++;
    },
  };
}
