import { PRODUCT_CREATED_V1, PRODUCT_UPDATED_V1 } from "contracts";
import type { IntegrationEventHandlers } from "./handler.ts";
import { ProductCreatedIntegrationEventHandler } from "./product-created-handler.ts";
import { ProductUpdatedIntegrationEventHandler } from "./product-updated-handler.ts";

/** The events Orders acts on. Add a handler here to act on a new event type. */
export const integrationEventHandlers: IntegrationEventHandlers = {
  [PRODUCT_CREATED_V1]: ProductCreatedIntegrationEventHandler,
  [PRODUCT_UPDATED_V1]: ProductUpdatedIntegrationEventHandler,
};

/**
 * The contract's event types Orders reads but does not act on, on purpose: a test fails for a
 * type in neither list (else its events would be stored as `ignored`, with only a log line).
 */
export const eventTypesIgnored: readonly string[] = [];

/** Whether Orders acts on events of this type (a handler of its own, not one `Object` has). */
export const handlesEventType = (type: string) => Object.hasOwn(integrationEventHandlers, type);
