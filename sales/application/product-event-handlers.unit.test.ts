import { expect, test } from "bun:test";
import { PRODUCT_CREATED_V1 } from "contracts";
import { createProduct } from "../domain/product.ts";
import type { ProductDomainEvent } from "../domain/product-events.ts";
import type { EventBus } from "./event-bus.ts";
import { dispatchDomainEvents } from "./product-event-handlers.ts";

const now = new Date("2026-11-28T00:00:00Z");

function recordingBus() {
  const published: { type: string }[] = [];
  const bus: EventBus = { publish: (event) => void published.push(event) };
  return { bus, published };
}

test("each domain event becomes its integration event, in the order raised", () => {
  const { events } = createProduct(
    { sku: "MUG-1", name: "Mug", description: null, price: { amount: 100, currency: "EUR" } },
    { id: "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77", now },
  );
  const { bus, published } = recordingBus();
  dispatchDomainEvents(events, bus);
  expect(published.map((event) => event.type)).toEqual([PRODUCT_CREATED_V1]);
});

test("a domain event without a handler throws, so its transaction does not commit", () => {
  const { bus, published } = recordingBus();
  const unknown = { type: "ProductDiscontinued" } as unknown as ProductDomainEvent;
  expect(() => dispatchDomainEvents([unknown], bus)).toThrow(
    "No handler for domain event ProductDiscontinued",
  );
  expect(published).toEqual([]);
});
