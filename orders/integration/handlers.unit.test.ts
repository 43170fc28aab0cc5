import { expect, test } from "bun:test";
import { IntegrationEvent, PRODUCT_CREATED_V1, PRODUCT_UPDATED_V1 } from "contracts";
import { eventTypesIgnored, handlesEventType, integrationEventHandlers } from "./handlers.ts";

test("Orders handles the event types it has handlers for, and no name an object inherits", () => {
  expect(handlesEventType(PRODUCT_CREATED_V1)).toBe(true);
  expect(handlesEventType(PRODUCT_UPDATED_V1)).toBe(true);
  for (const type of ["constructor", "toString", "__proto__", "hasOwnProperty", "sales.other.v1"]) {
    expect(handlesEventType(type)).toBe(false);
  }
});

test("every event type of the contract is handled, or ignored on purpose", () => {
  const types = IntegrationEvent.options.map((event) => event.entries.type.literal);
  const undecided = types.filter(
    (type) => !handlesEventType(type) && !eventTypesIgnored.includes(type),
  );
  // A new type: a handler in integrationEventHandlers, or its name in eventTypesIgnored.
  expect(undecided).toEqual([]);
  const both = types.filter((type) => handlesEventType(type) && eventTypesIgnored.includes(type));
  expect(both).toEqual([]);
  expect(Object.keys(integrationEventHandlers).length).toBeGreaterThan(0);
});
