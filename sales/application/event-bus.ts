import type { IntegrationEvent } from "contracts";

/** An integration event before it gets its id: the event bus mints the id when it stores it. */
export type UnsentIntegrationEvent = IntegrationEvent extends infer E
  ? E extends IntegrationEvent
    ? Omit<E, "id">
    : never
  : never;

/**
 * Where application code hands integration events. The implementation stores them in the
 * outbox, in the transaction of the change that raised them (a write that commits or fails
 * with it, like the repository's); the relay sends them later.
 */
export type EventBus = {
  publish(event: UnsentIntegrationEvent): void;
};
