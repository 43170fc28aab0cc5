/** The transactional outbox: a module's events written with its changes, then relayed to JetStream. */
export type { OutboxSpec } from "./spec.ts";
export type { OutboxHeaders, OutboxWriter, UnsentEvent } from "./writer.ts";
export { createOutboxWriter } from "./writer.ts";
