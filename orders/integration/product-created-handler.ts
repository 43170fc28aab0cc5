import type { ProductCreatedIntegrationEvent } from "contracts";
import type { HandlerContext } from "./handler.ts";
import { toProduct } from "./product-snapshot.ts";

/** A product now exists in Sales: remember what Orders needs of it. */
export async function ProductCreatedIntegrationEventHandler(
  event: ProductCreatedIntegrationEvent,
  { productCache }: HandlerContext,
): Promise<void> {
  productCache.upsert(toProduct(event.data));
}
