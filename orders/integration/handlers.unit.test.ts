import { expect, test } from "bun:test";
import { PRODUCT_CREATED_V1, PRODUCT_UPDATED_V1 } from "contracts";
import { handlesEventType } from "./handlers.ts";

test("Orders handles the event types it has handlers for, and no name an object inherits", () => {
  expect(handlesEventType(PRODUCT_CREATED_V1)).toBe(true);
  expect(handlesEventType(PRODUCT_UPDATED_V1)).toBe(true);
  for (const type of ["constructor", "toString", "__proto__", "hasOwnProperty", "sales.other.v1"]) {
    expect(handlesEventType(type)).toBe(false);
  }
});
