/**
 * What crosses the wire between Sales and its consumers: the only part of Sales that Orders may
 * import.
 */
export { CloudEventEnvelope, SALES_SOURCE } from "./envelope.ts";
export type { EventIssue, ParseIntegrationEventResult } from "./parse.ts";
export { IntegrationEvent, parseIntegrationEvent } from "./parse.ts";
export {
  PRODUCT_CREATED_V1,
  ProductCreatedIntegrationEvent,
} from "./product-created.ts";
export { Price, ProductSnapshot } from "./product-snapshot.ts";
export {
  PRODUCT_UPDATED_V1,
  ProductUpdatedIntegrationEvent,
} from "./product-updated.ts";
export { SALES_STREAM, SALES_SUBJECTS } from "./stream.ts";
