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
import { startSalesUnderTest } from "../testing/sales-under-test.ts";

const sales = await startSalesUnderTest();
const known: string[] = [];
const created = await sales.app.request("/products", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ sku: "FUZZ-SEED", name: "Seed", price: { amount: 100, currency: "EUR" } }),
});
known.push(((await created.json()) as { id: string }).id);

const price = shapedLike({
  amount: fc.integer({ min: 0, max: 10 ** 12 }),
  currency: fc.constantFrom("EUR", "USD", "eur"),
});
const productFields = {
  sku: fc.stringMatching(/^[A-Z0-9-]{1,64}$/),
  name: fc.string({ unit: "grapheme", minLength: 1, maxLength: 200 }),
  description: fc.option(fc.string({ unit: "grapheme", maxLength: 2000 })),
  price,
};

describe("HTTP fuzzing of Sales: never a 500, never a stack trace", () => {
  test("POST /products", async () => {
    const valid = fc.record({
      ...productFields,
      price: fc.record({
        amount: fc.integer({ min: 0, max: 10 ** 12 }),
        currency: fc.constantFrom("EUR", "JPY"),
      }),
    });
    const seen = await fuzzEndpoint(
      sales.app,
      fc
        .oneof(
          valid.map((product) => ({ body: JSON.stringify(product), type: "application/json" })),
          withOneFieldBroken(valid).map((product) => ({
            body: JSON.stringify(product),
            type: "application/json",
          })),
          anyBody(shapedLike(productFields)),
        )
        .map(({ body, type }) => ({ method: "POST", path: "/products", body, type })),
      [201, 400, 409],
      1_000,
    );
    expect(seen[201]).toBeGreaterThan(0);
    expect(seen[400]).toBeGreaterThan(0);
    // Only the answered 201s left a product and its event: a refused request wrote neither.
    const [written] = await sales.sql<{ products: number; events: number }[]>`
      select (select count(*)::int from sales.products) as products,
             (select count(*)::int from sales.outbox_messages) as events`;
    const answered = (seen[201] ?? 0) + 1; // and the seed product
    expect(written).toEqual({ products: answered, events: answered });
    const [first] = await sales.sql<
      { id: string }[]
    >`select id from sales.products order by id desc limit 5`;
    if (first) known.push(first.id);
  });

  test("PATCH /products/:id", async () => {
    const { sku: _, ...changeable } = productFields;
    await fuzzEndpoint(
      sales.app,
      fc
        .tuple(
          idSegment(() => known),
          anyBody(shapedLike(changeable)),
        )
        .map(([id, { body, type }]) => ({ method: "PATCH", path: `/products/${id}`, body, type })),
      [200, 400, 404],
      300,
    );
  });

  test("GET /products/:id and GET /products", async () => {
    await fuzzEndpoint(
      sales.app,
      fc.oneof(
        idSegment(() => known).map((id) => ({ method: "GET", path: `/products/${id}` })),
        fc
          .record({ limit: hostileValue, after: hostileValue }, { requiredKeys: [] })
          .map((query: Record<string, unknown>) => ({
            method: "GET",
            path: `/products?${queryString(query)}`,
          })),
      ),
      [200, 400, 404],
      300,
    );
  });

  test.each(["POST /products", "PATCH /products/:id"])(
    "%s refuses an oversized body with 413",
    async (route) => {
      const [method, path] = route.split(" ") as [string, string];
      const response = await sales.app.request(path.replace(":id", known[0] ?? ""), {
        method,
        headers: { "content-type": "application/json" },
        body: oversizedJson(),
      });
      expect(response.status).toBe(413);
    },
  );

  test("a failed request wrote nothing: every product has exactly one event per version", async () => {
    const broken = await sales.sql`
      select p.id from sales.products p
      left join sales.outbox_messages o on o.payload->>'subject' = p.id::text
      group by p.id, p.version
      having count(o.id) <> p.version
         or count(*) filter (where o.type = 'sales.product.created.v1') <> 1`;
    expect(broken).toEqual([] as never);
    const orphans = await sales.sql`
      select o.id from sales.outbox_messages o
      where not exists (select 1 from sales.products p where p.id::text = o.payload->>'subject')`;
    expect(orphans).toEqual([] as never);
  });

  test("every route that takes a caller's input is fuzzed here", () => {
    // A new route: a test of its own above, and its name here.
    expect(routesTakingInput(sales.app)).toEqual([
      "GET /products",
      "GET /products/{id}",
      "PATCH /products/{id}",
      "POST /products",
    ]);
  });
});
