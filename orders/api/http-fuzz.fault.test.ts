import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  anyBody,
  fuzzEndpoint,
  hostileValue,
  idSegment,
  oversizedJson,
  queryString,
  routesTakingInput,
  shapedLike,
  withOneFieldBroken,
} from "shared/testing/http-fuzz.ts";
import { waitFor } from "shared/testing/test-environment.ts";
import {
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";

const sales = await startFakeSales();
const orders = await startOrdersUnderTest(sales);
const products = [
  productSnapshot({ price: { amount: 1299, currency: "EUR" } }),
  productSnapshot({ price: { amount: 1_000_000_000_000, currency: "EUR" } }),
  productSnapshot({ price: { amount: 500, currency: "JPY" } }),
];
for (const product of products) await sales.publishProduct("created", product);
const productIds = products.map((p) => p.productId);
await waitFor(async () => {
  const rows = await orders.sql`select 1 from orders.product_cache`;
  return rows.length === products.length;
});
const orderIds: string[] = [];

const line = fc.record({
  productId: fc.oneof(fc.constantFrom(...productIds), fc.uuid()),
  quantity: fc.integer({ min: 1, max: 10_000 }),
});

describe("HTTP fuzzing of Orders: never a 500, never a stack trace", () => {
  test("POST /orders", async () => {
    const valid = fc.record({ lines: fc.array(line, { minLength: 1, maxLength: 5 }) });
    const seen = await fuzzEndpoint(
      orders.app,
      fc
        .oneof(
          valid.map((order) => ({ body: JSON.stringify(order), type: "application/json" })),
          // One line with one field broken, among valid ones.
          valid.chain(({ lines }) =>
            withOneFieldBroken(fc.constant(lines[0] ?? {})).map((broken) => ({
              body: JSON.stringify({ lines: [broken, ...lines.slice(1)] }),
              type: "application/json",
            })),
          ),
          anyBody(
            shapedLike({ lines: fc.array(fc.oneof(line, hostileValue), { maxLength: 120 }) }),
          ),
        )
        .map(({ body, type }) => ({ method: "POST", path: "/orders", body, type })),
      [201, 400, 422],
      1_000,
    );
    expect(seen[201]).toBeGreaterThan(0);
    expect(seen[422]).toBeGreaterThan(0);
    // Only the answered 201s left an order: a refused request wrote none.
    const [{ count }] = (await orders.sql`select count(*)::int as count from orders.orders`) as [
      { count: number },
    ];
    expect(count).toBe(seen[201] ?? 0);
    const rows = await orders.sql<{ id: string }[]>`select id from orders.orders limit 3`;
    orderIds.push(...rows.map((row) => row.id));
  });

  test("GET /orders/:id, GET /products/:id and GET /products", async () => {
    await fuzzEndpoint(
      orders.app,
      fc.oneof(
        idSegment(() => orderIds).map((id) => ({ method: "GET", path: `/orders/${id}` })),
        idSegment(() => productIds).map((id) => ({ method: "GET", path: `/products/${id}` })),
        fc
          .record({ limit: hostileValue, after: hostileValue }, { requiredKeys: [] })
          .map((query: Record<string, unknown>) => ({
            method: "GET",
            path: `/products?${queryString(query)}`,
          })),
      ),
      [200, 400, 404],
      500,
    );
  });

  test("POST /orders refuses an oversized body with 413", async () => {
    const response = await orders.app.request("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: oversizedJson(),
    });
    expect(response.status).toBe(413);
  });

  test("a failed request wrote nothing: every order is whole and adds up", async () => {
    const broken = await orders.sql`
      select o.id from orders.orders o
      left join orders.order_lines l on l.order_id = o.id
      group by o.id, o.total_amount
      having count(l.order_id) = 0 or sum(l.line_total_amount) <> o.total_amount
          or bool_or(l.line_total_amount <> l.unit_price_amount * l.quantity)`;
    expect(broken).toEqual([] as never);
  });

  test("every route that takes a caller's input is fuzzed here", () => {
    // A new route: a test of its own above, and its name here.
    expect(routesTakingInput(orders.app)).toEqual([
      "GET /orders/{id}",
      "GET /products",
      "GET /products/{id}",
      "POST /orders",
    ]);
  });
});
