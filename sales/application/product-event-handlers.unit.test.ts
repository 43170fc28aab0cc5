import { expect, test } from "bun:test";
import { PRODUCT_CREATED_V1, parseIntegrationEvent } from "contracts";
import { createProduct, updateProduct } from "../domain/product.ts";
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
  const unknown = { type: "ProductTeleported" } as unknown as ProductDomainEvent;
  expect(() => dispatchDomainEvents([unknown], bus)).toThrow(
    "No handler for domain event ProductTeleported",
  );
  expect(published).toEqual([]);
});

test("a product at every limit of the domain's rules makes events the contract accepts", () => {
  // Were the domain to allow more than the contract, Sales would publish events Orders parks.
  const { product, events } = createProduct(
    {
      sku: `${"Z9-".repeat(21)}A`,
      name: "😀".repeat(100),
      description: "d".repeat(2000),
      price: { amount: 1_000_000_000_000, currency: "XTS" },
    },
    { id: "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77", now },
  );
  const changed = updateProduct(
    product,
    { name: "n", description: null, price: { amount: 0, currency: "EUR" } },
    now,
  );
  const { bus, published } = recordingBus();
  dispatchDomainEvents([...events, ...changed.events], bus);
  expect(published).toHaveLength(2);
  for (const [index, event] of published.entries()) {
    const id = `0193a5c2-7a10-7cc1-8a5e-4b0c2f9e1a0${index}`;
    const parsed = parseIntegrationEvent(JSON.stringify({ ...event, id }));
    expect(parsed.success ? [] : parsed.issues).toEqual([]);
  }
});
