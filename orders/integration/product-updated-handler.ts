import type { ProductUpdatedIntegrationEvent } from "contracts";
import type { HandlerContext } from "./handler.ts";
import { toProduct } from "./product-snapshot.ts";

/**
 * A product changed in Sales: keep its newest state. The event carries the full state, so it
 * also works when it arrives before the `created` event.
 */
export async function ProductUpdatedIntegrationEventHandler(
  event: ProductUpdatedIntegrationEvent,
  { productCache }: HandlerContext,
): Promise<void> {
  productCache.upsert(toProduct(event.data));
}
