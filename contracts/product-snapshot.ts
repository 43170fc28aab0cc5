import * as v from "valibot";

/** Money in minor units (cents) with an ISO 4217 currency code. */
export const Price = v.object({
  amount: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1_000_000_000_000)),
  currency: v.pipe(v.string(), v.regex(/^[A-Z]{3}$/, "must be an ISO 4217 code, e.g. EUR")),
});
export type Price = v.InferOutput<typeof Price>;

/** The full state of a product after a change, with the version that change produced. */
export const ProductSnapshot = v.object({
  productId: v.pipe(v.string(), v.uuid()),
  sku: v.pipe(v.string(), v.regex(/^[A-Z0-9-]{1,64}$/, "must be 1-64 of A-Z, 0-9 and -")),
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  description: v.nullable(v.pipe(v.string(), v.maxLength(2000))),
  price: Price,
  // At most Postgres' `int`, the type of Sales' and Orders' version columns.
  version: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2_147_483_647)),
});
export type ProductSnapshot = v.InferOutput<typeof ProductSnapshot>;
