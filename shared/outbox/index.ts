/** The transactional outbox: a module's events written with its changes, then relayed to JetStream. */
export { createOutboxMetrics } from "./metrics.ts";
export type { OutboxRelay, OutboxRelayMetrics, OutboxRelayOptions } from "./relay.ts";
export {
  DUPLICATE_WINDOW_MS,
  makePendingRowsDue,
  REFILL_MAX_ATTEMPTS,
  REQUEUED_BEFORE,
  startOutboxRelay,
} from "./relay.ts";
export type { RepublishResult, RepublishSelection } from "./republish.ts";
export { queueForRepublish } from "./republish.ts";
export { deletePublishedOutboxRows, startOutboxRetention } from "./retention.ts";
export type { OutboxSpec } from "./spec.ts";
export type { Outbox, OutboxOptions } from "./start.ts";
export { startOutbox } from "./start.ts";
export type { OutboxBacklog, OutboxError, OutboxStatus } from "./status.ts";
export { outboxStatusText, readOutboxBacklog, readOutboxStatus } from "./status.ts";
export type { StreamCheck, StreamCheckOptions } from "./stream-check.ts";
export { startStreamCheck } from "./stream-check.ts";
export type { OutboxHeaders, OutboxWriter, UnsentEvent } from "./writer.ts";
export { createOutboxWriter } from "./writer.ts";
