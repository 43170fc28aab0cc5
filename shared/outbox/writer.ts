import type { PipelinedTransaction } from "../database.ts";
import { type OutboxSpec, outboxTable } from "./spec.ts";

/** Headers the relay sets on the NATS message besides `Nats-Msg-Id` and `Content-Type`. */
export type OutboxHeaders = { traceparent?: string };

/** An integration event before it gets its id; its `type` is also its NATS subject. */
export type UnsentEvent = { type: string };

export type OutboxWriter = {
  write(event: UnsentEvent): void;
  /** How many events were written. */
  readonly written: number;
};

/**
 * Stores each event in the outbox table within the caller's transaction (the insert goes out
 * with the transaction's other writes). The event id is minted here, once: every publish
 * attempt reuses it, as the CloudEvents `id` and as the `Nats-Msg-Id` that lets JetStream drop
 * duplicates.
 */
export function createOutboxWriter(
  { sql: tx, write }: PipelinedTransaction,
  {
    outbox,
    newEventId,
    headers,
  }: { outbox: OutboxSpec; newEventId: () => string; headers: OutboxHeaders },
): OutboxWriter {
  let written = 0;
  return {
    get written() {
      return written;
    },
    write(event) {
      const id = newEventId();
      // The trace context travels in the event too, so consumers need not decode NATS headers.
      const payload = {
        ...event,
        id,
        ...(headers.traceparent && { traceparent: headers.traceparent }),
      };
      // The NATS subject is the event type (`sales.product.created.v1`), not the CloudEvents `subject`.
      const natsSubject = event.type;
      write(tx`
        insert into ${outboxTable(tx, outbox)} (id, type, subject, payload, headers, occurred_at)
        values (${id}, ${event.type}, ${natsSubject}, ${tx.json(payload)}, ${tx.json(headers)},
                clock_timestamp())`);
      written++;
    },
  };
}
