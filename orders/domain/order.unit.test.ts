import { describe, expect, test } from "bun:test";
import { UnprocessableError } from "shared/errors";
import { placeOrder, type RequestedLine } from "./order.ts";
import type { Product } from "./product.ts";

const mug: Product = {
  id: "p-mug",
  sku: "MUG",
  name: "Mug",
  price: { amount: 1299, currency: "EUR" },
  version: 3,
};
const tea: Product = {
  id: "p-tea",
  sku: "TEA",
  name: "Tea",
  price: { amount: 450, currency: "EUR" },
  version: 1,
};
const yen: Product = {
  id: "p-yen",
  sku: "YEN",
  name: "Fan",
  price: { amount: 900, currency: "JPY" },
  version: 1,
};
const products = new Map([mug, tea, yen].map((p) => [p.id, p]));
const now = new Date("2026-11-27T12:00:00Z");

const place = (lines: RequestedLine[]) => placeOrder({ id: "o1", now, lines, products });

function rejection(lines: RequestedLine[]): UnprocessableError {
  try {
    place(lines);
  } catch (error) {
    if (error instanceof UnprocessableError) return error;
    throw error;
  }
  throw new Error("expected the order to be refused");
}

describe("placeOrder", () => {
  test("prices each line from the known products and totals in minor units", () => {
    const order = place([
      { productId: "p-mug", quantity: 2 },
      { productId: "p-tea", quantity: 3 },
    ]);
    expect(order).toEqual({
      id: "o1",
      currency: "EUR",
      total: 2 * 1299 + 3 * 450,
      createdAt: now,
      lines: [
        {
          lineNumber: 1,
          productId: "p-mug",
          sku: "MUG",
          name: "Mug",
          quantity: 2,
          unitPrice: mug.price,
          lineTotal: 2598,
        },
        {
          lineNumber: 2,
          productId: "p-tea",
          sku: "TEA",
          name: "Tea",
          quantity: 3,
          unitPrice: tea.price,
          lineTotal: 1350,
        },
      ],
    });
  });

  test("refuses a product it does not know, naming the line", () => {
    expect(
      rejection([
        { productId: "p-mug", quantity: 1 },
        { productId: "p-nope", quantity: 1 },
      ]).issues,
    ).toEqual([{ path: "lines.1.productId", message: "product p-nope is not known" }]);
  });

  test("refuses lines in different currencies", () => {
    expect(
      rejection([
        { productId: "p-mug", quantity: 1 },
        { productId: "p-yen", quantity: 1 },
      ]).message,
    ).toContain("currencies");
  });

  test.each([0, -1, 1.5, 10_001])("refuses quantity %p", (quantity) => {
    expect(rejection([{ productId: "p-mug", quantity }]).issues).toEqual([
      { path: "lines.0.quantity", message: "must be a whole number from 1 to 10000" },
    ]);
  });

  test("accepts quantities 1 and 10 000", () => {
    expect(
      place([
        { productId: "p-tea", quantity: 1 },
        { productId: "p-tea", quantity: 10_000 },
      ]).total,
    ).toBe(450 * 10_001);
  });

  test("refuses an empty order and a total beyond exact integers", () => {
    expect(rejection([]).issues[0]?.path).toBe("lines");
    const pricey = new Map([["p", { ...mug, id: "p", price: { amount: 1e12, currency: "EUR" } }]]);
    expect(() =>
      placeOrder({
        id: "o",
        now,
        products: pricey,
        lines: Array(10).fill({ productId: "p", quantity: 10_000 }),
      }),
    ).toThrow(/too large/);
  });
});
