/**
 * What the benchmark writes, as a client of the system sees it: Sales' HTTP body, and the
 * product row plus integration event Sales stores for it (the CloudEvents envelope of
 * `sales.product.created.v1`). Spelled out here because the benchmark imports no module code.
 */
export const PRODUCT_CREATED_TYPE = "sales.product.created.v1";

export type BenchProduct = {
  id: string;
  sku: string;
  name: string;
  description: string;
  price: { amount: number; currency: string };
};

/** The `n`th product of a run; `label` (letters, digits, -) keeps skus of phases apart. */
export function benchProduct(label: string, n: number): BenchProduct {
  return {
    id: Bun.randomUUIDv7(),
    sku: `${label}-${n}`.toUpperCase(),
    name: `Bench product ${n}`,
    description: "Written by bun run bench",
    price: { amount: 1000 + (n % 9000), currency: "EUR" },
  };
}

/** `POST /products` body. */
export function createProductBody(product: BenchProduct): string {
  const { sku, name, description, price } = product;
  return JSON.stringify({ sku, name, description, price });
}

/** The integration event Sales writes to its outbox when `product` is created. */
export function productCreatedEvent(
  product: BenchProduct,
  eventId: string,
  time: Date,
  traceparent: string,
) {
  return {
    specversion: "1.0",
    id: eventId,
    source: "sales",
    type: PRODUCT_CREATED_TYPE,
    subject: product.id,
    time: time.toISOString(),
    datacontenttype: "application/json",
    traceparent,
    data: {
      productId: product.id,
      sku: product.sku,
      name: product.name,
      description: product.description,
      price: product.price,
      version: 1,
    },
  };
}
