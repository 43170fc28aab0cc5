/**
 * The inbox a consuming module wires: a durable consumer that stores each message before it
 * acks, a job that applies stored messages through the module's handlers, and their replay,
 * retention, status and metrics. The module names its inbox with one `InboxSpec` (its table,
 * stream, consumer, events and names), passed as `inbox` to every building block.
 */
export type {
  IntegrationEventConsumer,
  IntegrationEventConsumerMetrics,
  IntegrationEventConsumerOptions,
} from "./consumer.ts";
export { startIntegrationEventConsumer, UNREADABLE_HEADERS } from "./consumer.ts";
export { consumerDescription } from "./durable-consumer.ts";
export type { ReceivedMessage, StoredBatch } from "./inbox.ts";
export { isRefusedValue, storeInboxMessages, storeReceivedMessages } from "./inbox.ts";
export { createInboxMetrics } from "./metrics.ts";
export type {
  HandledEvent,
  InboxHandlerContext,
  InboxHandlerFor,
  ProcessedBatch,
  ProcessInboxJob,
  ProcessInboxJobMetrics,
  ProcessInboxJobOptions,
} from "./process-inbox-job.ts";
export { startProcessInboxJob } from "./process-inbox-job.ts";
export type { ReplayOutcome } from "./replay.ts";
export { replayInboxRows } from "./replay.ts";
export { deleteHandledInboxRows, startInboxRetention } from "./retention.ts";
export type { InboxEvent, InboxPublisher, InboxSpec, ParsedMessage } from "./spec.ts";
export type { Inbox, InboxOptions } from "./start.ts";
export { startInbox } from "./start.ts";
export type { InboxBacklog, InboxError, InboxStatus } from "./status.ts";
export { inboxStatusText, readInboxBacklog, readInboxStatus } from "./status.ts";
export type { StreamReadOptions } from "./stream-reader.ts";
export { readStream } from "./stream-reader.ts";
export type { SequencePosition, StreamsReport } from "./stream-report.ts";
export { readStreamsReport, streamsText } from "./stream-report.ts";
