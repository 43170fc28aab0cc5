import { parseOrThrow } from "shared/validation";
import * as v from "valibot";
import type { ProductDomainEvent } from "./product-events.ts";

/** Money in minor units (cents) of an ISO 4217 currency. */
export type Money = { amount: number; currency: string };

export type Product = {
  id: string;
  sku: string;
  name: string;
  description: string | null;
  price: Money;
  /** 1 at creation, +1 per change that changed something. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
};

/**
 * Text Postgres can store, in a column and inside the event's jsonb: no NUL character and no
 * lone UTF-16 surrogate (both are refused there; the HTTP fuzz tests found them).
 */
function storableText() {
  return v.check(
    (text: string) => !text.includes("\u0000") && text.isWellFormed(),
    "must be valid Unicode text without NUL (\\u0000) characters",
  );
}

/** The rules each product field must keep; the HTTP API validates requests with them too. */
export const ProductRules = {
  sku: v.pipe(
    v.string(),
    v.regex(/^[A-Z0-9-]{1,64}$/, "must be 1-64 characters of A-Z, 0-9 and -"),
  ),
  name: v.pipe(
    v.string(),
    v.trim(),
    v.minLength(1, "must not be empty"),
    v.maxLength(200),
    storableText(),
  ),
  description: v.nullable(v.pipe(v.string(), v.maxLength(2000), storableText())),
  price: v.strictObject({
    amount: v.pipe(
      v.number(),
      v.integer("must be a whole number of minor units (e.g. cents)"),
      v.minValue(0),
      v.maxValue(1_000_000_000_000),
    ),
    currency: v.pipe(
      v.string(),
      v.regex(/^[A-Z]{3}$/, "must be an upper-case ISO 4217 code, e.g. EUR"),
    ),
  }),
};

const NewProduct = v.object({
  sku: ProductRules.sku,
  name: ProductRules.name,
  description: ProductRules.description,
  price: ProductRules.price,
});
export type NewProduct = v.InferInput<typeof NewProduct>;

const ProductChanges = v.object({
  name: v.optional(ProductRules.name),
  description: v.optional(ProductRules.description),
  price: v.optional(ProductRules.price),
});
export type ProductChanges = v.InferInput<typeof ProductChanges>;

export type ProductChange = { product: Product; events: ProductDomainEvent[] };

/** A new product at version 1, and the `ProductCreated` event that says so. */
export function createProduct(
  input: NewProduct,
  { id, now }: { id: string; now: Date },
): ProductChange {
  const fields = parseOrThrow(NewProduct, input);
  const product: Product = { id, ...fields, version: 1, createdAt: now, updatedAt: now };
  return { product, events: [{ type: "ProductCreated", product, occurredAt: now }] };
}

/**
 * The product with `changes` applied. A change that changes nothing keeps the version and
 * raises no event; any real change bumps the version by one and raises `ProductUpdated`.
 */
export function updateProduct(product: Product, changes: ProductChanges, now: Date): ProductChange {
  const wanted = parseOrThrow(ProductChanges, changes);
  const next: Product = {
    ...product,
    name: wanted.name ?? product.name,
    description: wanted.description === undefined ? product.description : wanted.description,
    price: wanted.price ?? product.price,
  };
  const changed =
    next.name !== product.name ||
    next.description !== product.description ||
    next.price.amount !== product.price.amount ||
    next.price.currency !== product.price.currency;
  if (!changed) return { product, events: [] };

  const updated = { ...next, version: product.version + 1, updatedAt: now };
  return {
    product: updated,
    events: [{ type: "ProductUpdated", product: updated, occurredAt: now }],
  };
}
