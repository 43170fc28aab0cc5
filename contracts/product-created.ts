import * as v from "valibot";
import { CloudEventEnvelope } from "./envelope.ts";
import { ProductSnapshot } from "./product-snapshot.ts";

/** Type (and NATS subject) of the event Sales publishes when a product is created. */
export const PRODUCT_CREATED_V1 = "sales.product.created.v1";

/** A product was created; `data` is its full state at version 1. */
export const ProductCreatedIntegrationEvent = v.object({
  ...CloudEventEnvelope.entries,
  type: v.literal(PRODUCT_CREATED_V1),
  data: ProductSnapshot,
});
export type ProductCreatedIntegrationEvent = v.InferOutput<typeof ProductCreatedIntegrationEvent>;
