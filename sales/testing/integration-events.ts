import { PRODUCT_CREATED_V1 } from "contracts";
import type { UnsentIntegrationEvent } from "../application/event-bus.ts";

/**
 * A created event for a new product, built directly rather than raised by the domain, so a test
 * can put in the outbox what the domain would refuse (a description too large for NATS, say).
 */
export function unsentProductCreated({
  sku,
  name = "Row",
  description = null,
  amount = 1,
}: {
  sku: string;
  name?: string;
  description?: string | null;
  amount?: number;
}): UnsentIntegrationEvent {
  const productId = Bun.randomUUIDv7();
  return {
    specversion: "1.0",
    source: "sales",
    type: PRODUCT_CREATED_V1,
    subject: productId,
    time: new Date().toISOString(),
    data: {
      productId,
      sku,
      name,
      description,
      price: { amount, currency: "EUR" },
      version: 1,
    },
  };
}
