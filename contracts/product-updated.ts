import * as v from "valibot";
import { CloudEventEnvelope } from "./envelope.ts";
import { ProductSnapshot } from "./product-snapshot.ts";

/** Type (and NATS subject) of the event Sales publishes when a product changes. */
export const PRODUCT_UPDATED_V1 = "sales.product.updated.v1";

/** A product changed; `data` is its full state after the change, with the new version. */
export const ProductUpdatedIntegrationEvent = v.object({
  ...CloudEventEnvelope.entries,
  type: v.literal(PRODUCT_UPDATED_V1),
  data: ProductSnapshot,
});
export type ProductUpdatedIntegrationEvent = v.InferOutput<typeof ProductUpdatedIntegrationEvent>;
