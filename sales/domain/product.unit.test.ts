import { describe, expect, test } from "bun:test";
import { ValidationError } from "shared/errors";
import { createProduct, type NewProduct, updateProduct } from "./product.ts";

const created = new Date("2026-11-27T10:00:00Z");
const later = new Date("2026-11-27T11:00:00Z");
const mug: NewProduct = {
  sku: "MUG-1",
  name: "Mug",
  description: null,
  price: { amount: 1299, currency: "EUR" },
};
const newMug = () => createProduct(mug, { id: "p1", now: created }).product;

function issuesOf(action: () => unknown): string[] {
  try {
    action();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues.map((issue) => issue.path);
    throw error;
  }
  throw new Error("expected a ValidationError");
}

describe("createProduct", () => {
  test("starts at version 1 and raises ProductCreated with the product", () => {
    const { product, events } = createProduct(mug, { id: "p1", now: created });
    expect(product).toEqual({
      id: "p1",
      ...mug,
      version: 1,
      createdAt: created,
      updatedAt: created,
    });
    expect(events).toEqual([{ type: "ProductCreated", product, occurredAt: created }]);
  });

  const broken: [string, Partial<NewProduct>, string][] = [
    ["a lowercase sku", { sku: "mug-1" }, "sku"],
    ["an empty sku", { sku: "" }, "sku"],
    ["a 65-character sku", { sku: "A".repeat(65) }, "sku"],
    ["an empty name", { name: "" }, "name"],
    ["a blank name", { name: "   " }, "name"],
    ["a 201-character name", { name: "x".repeat(201) }, "name"],
    ["a 2001-character description", { description: "x".repeat(2001) }, "description"],
    ["a NUL character in the name", { name: "a\u0000b" }, "name"],
    ["a NUL character in the description", { description: "x\u0000" }, "description"],
    ["a lone surrogate in the name", { name: "\u202e\ud83d" }, "name"],
    ["a negative amount", { price: { amount: -1, currency: "EUR" } }, "price.amount"],
    ["a fractional amount", { price: { amount: 1.5, currency: "EUR" } }, "price.amount"],
    ["an amount over 10^12", { price: { amount: 1e12 + 1, currency: "EUR" } }, "price.amount"],
    ["a lowercase currency", { price: { amount: 1, currency: "eur" } }, "price.currency"],
    ["a 4-letter currency", { price: { amount: 1, currency: "EURO" } }, "price.currency"],
  ];
  test.each(broken)("rejects %s", (_, change, path) => {
    expect(
      issuesOf(() => createProduct({ ...mug, ...change }, { id: "p1", now: created })),
    ).toEqual([path]);
  });

  test("accepts the limits", () => {
    const edge = { sku: "A".repeat(64), name: "x".repeat(200), description: "x".repeat(2000) };
    const { product } = createProduct(
      { ...mug, ...edge, price: { amount: 1e12, currency: "JPY" } },
      { id: "p1", now: created },
    );
    expect(product.price.amount).toBe(1e12);
  });
});

describe("updateProduct", () => {
  test("a real change bumps the version by one and raises ProductUpdated", () => {
    const { product, events } = updateProduct(
      newMug(),
      { price: { amount: 1499, currency: "EUR" } },
      later,
    );
    expect(product).toMatchObject({
      version: 2,
      price: { amount: 1499 },
      updatedAt: later,
      createdAt: created,
    });
    expect(events).toEqual([{ type: "ProductUpdated", product, occurredAt: later }]);
  });

  test("a change that changes nothing keeps the version and raises nothing", () => {
    const original = newMug();
    const same = { name: "Mug", description: null, price: { amount: 1299, currency: "EUR" } };
    for (const changes of [{}, same, { name: "Mug" }]) {
      const { product, events } = updateProduct(original, changes, later);
      expect(events).toEqual([]);
      expect(product).toBe(original);
    }
  });

  test("description can be cleared with null and left alone when absent", () => {
    const described = updateProduct(newMug(), { description: "Big" }, later).product;
    expect(updateProduct(described, { name: "Cup" }, later).product.description).toBe("Big");
    const cleared = updateProduct(described, { description: null }, later);
    expect(cleared.product).toMatchObject({ description: null, version: 3 });
  });

  test("enforces the same rules as create", () => {
    expect(issuesOf(() => updateProduct(newMug(), { name: "" }, later))).toEqual(["name"]);
    expect(
      issuesOf(() => updateProduct(newMug(), { price: { amount: -5, currency: "EUR" } }, later)),
    ).toEqual(["price.amount"]);
  });
});
