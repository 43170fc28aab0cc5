import {
  PRODUCT_CREATED_V1,
  PRODUCT_UPDATED_V1,
  type ProductSnapshot,
  SALES_SOURCE,
} from "contracts";
import type { Product } from "../domain/product.ts";
import type {
  ProductCreatedDomainEvent,
  ProductDomainEvent,
  ProductUpdatedDomainEvent,
} from "../domain/product-events.ts";
import type { EventBus } from "./event-bus.ts";

/** Tells the world a product exists: `sales.product.created.v1` with its full state. */
export function ProductCreatedDomainEventHandler(event: ProductCreatedDomainEvent, bus: EventBus) {
  bus.publish({ ...envelope(event), type: PRODUCT_CREATED_V1 });
}

/** Tells the world a product changed: `sales.product.updated.v1` with its new state. */
export function ProductUpdatedDomainEventHandler(event: ProductUpdatedDomainEvent, bus: EventBus) {
  bus.publish({ ...envelope(event), type: PRODUCT_UPDATED_V1 });
}

/**
 * Hands each domain event to its handler, in the order they were raised. An event without one
 * fails to compile, and throws if it gets here anyway: its transaction then rolls back, rather
 * than commit a change no event tells of.
 */
export function dispatchDomainEvents(events: ProductDomainEvent[], bus: EventBus): void {
  for (const event of events) {
    switch (event.type) {
      case "ProductCreated":
        ProductCreatedDomainEventHandler(event, bus);
        break;
      case "ProductUpdated":
        ProductUpdatedDomainEventHandler(event, bus);
        break;
      default: {
        const unhandled: never = event;
        throw new Error(`No handler for domain event ${(unhandled as { type: string }).type}`);
      }
    }
  }
}

function envelope(event: ProductDomainEvent) {
  return {
    specversion: "1.0" as const,
    source: SALES_SOURCE,
    subject: event.product.id,
    time: event.occurredAt.toISOString(),
    datacontenttype: "application/json" as const,
    data: snapshot(event.product),
  };
}

function snapshot(product: Product): ProductSnapshot {
  return {
    productId: product.id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    price: { amount: product.price.amount, currency: product.price.currency },
    version: product.version,
  };
}
