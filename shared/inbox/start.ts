import type * as v from "valibot";
import type { Sql } from "../database.ts";
import type { Logger } from "../logger.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { NatsLink, NatsNames } from "../nats.ts";
import { type IntegrationEventConsumer, startIntegrationEventConsumer } from "./consumer.ts";
import { createInboxMetrics } from "./metrics.ts";
import {
  type HandledEvent,
  type InboxHandlerFor,
  type ProcessInboxJob,
  startProcessInboxJob,
} from "./process-inbox-job.ts";
import { startInboxRetention } from "./retention.ts";
import type { InboxSpec } from "./spec.ts";

export type InboxOptions<E extends HandledEvent> = {
  sql: Sql;
  /** The module's NATS link; its `onConnect` calls the inbox's `onConnect`. */
  nats: NatsLink;
  names: NatsNames;
  inbox: InboxSpec;
  log: Logger;
  metrics: MetricsRegistry;
  /** Reads a stored payload as an event: the module's schema of every event it takes. */
  eventSchema: v.GenericSchema<unknown, E>;
  /** Whether the module has a handler for a type (else its messages are stored as ignored). */
  handles: (type: string) => boolean;
  handlerFor: InboxHandlerFor<E>;
  /** Most messages stored by one statement, and applied by one transaction. */
  batchSize: number;
  pollMs: number;
  /** After this many failed attempts a row is dead: no more retries until replayed. */
  maxAttempts: number;
  ackWaitMs: number;
  maxAckPending: number;
  /** How long handled rows are kept (the inbox drops copies of what it holds). */
  retentionMs: number;
  retentionIntervalMs: number;
};

/** A module's inbox at work in its process. */
export type Inbox = {
  consumer: IntegrationEventConsumer;
  processInboxJob: ProcessInboxJob;
  /** For the NATS link's `onConnect`: the consumer is checked again and pulls. */
  onConnect(): void;
  /** Stops pulling, finishes the batches in hand, then stops the retention. */
  stop(): Promise<void>;
};

/**
 * Starts what fills and applies a module's inbox: the durable consumer, which stores each batch
 * before it acks and then wakes ProcessInboxJob, ProcessInboxJob, which applies stored messages
 * through the module's handlers, and the retention of handled rows.
 */
export function startInbox<E extends HandledEvent>(options: InboxOptions<E>): Inbox {
  const { sql, nats, names, inbox, log } = options;
  const metrics = createInboxMetrics(options.metrics, sql, inbox);
  const processInboxJob = startProcessInboxJob({
    sql,
    inbox,
    eventSchema: options.eventSchema,
    handles: options.handles,
    handlerFor: options.handlerFor,
    log,
    pollMs: options.pollMs,
    batchSize: options.batchSize,
    maxAttempts: options.maxAttempts,
    metrics: metrics.job,
  });
  const consumer = startIntegrationEventConsumer({
    sql,
    inbox,
    nats,
    names,
    log,
    handles: options.handles,
    onStored: (batch) => {
      if (batch.pending > 0) processInboxJob.wake();
    },
    batchSize: options.batchSize,
    ackWaitMs: options.ackWaitMs,
    maxAckPending: options.maxAckPending,
    metrics: metrics.consumer,
  });
  const retention = startInboxRetention({
    sql,
    inbox,
    nats,
    names,
    log,
    retentionMs: options.retentionMs,
    intervalMs: options.retentionIntervalMs,
  });

  return {
    consumer,
    processInboxJob,
    onConnect: () => consumer.wake(),
    async stop() {
      await consumer.stop();
      await processInboxJob.stop();
      await retention.stop();
    },
  };
}
