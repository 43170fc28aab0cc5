import { describe, expect, test } from "bun:test";
import {
  dig,
  documentedRoutes,
  exampleRequests,
  examplesNotMatchingSchemas,
  openApiProblems,
  schemaProblem,
  servedRoutes,
} from "shared/testing/openapi-checks.ts";
import { waitFor } from "shared/testing/test-environment.ts";
import {
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";

const sales = await startFakeSales();
const orders = await startOrdersUnderTest(sales);
const document: unknown = await (await orders.app.request("/openapi.json")).json();

describe("Orders' OpenAPI document", () => {
  test("is a valid OpenAPI 3.1 document", async () => {
    expect(await openApiProblems(document)).toEqual([]);
  });

  test("lists every route the app serves, and the ones the README names", () => {
    const documented = documentedRoutes(document);
    expect(documented.toSorted()).toEqual(servedRoutes(orders.app).toSorted());
    for (const route of [
      "GET /products/{id}",
      "GET /products",
      "POST /orders",
      "GET /orders/{id}",
      "GET /health",
      "GET /ready",
      "GET /health/messaging",
      "GET /metrics",
      "GET /openapi.json",
      "GET /docs",
    ]) {
      expect(documented).toContain(route);
    }
  });

  test("carries the request schema of the validator", () => {
    const body = dig(document, "paths", "/orders", "post", "requestBody", "content");
    expect(body).toMatchObject({
      "application/json": {
        schema: {
          properties: {
            lines: {
              type: "array",
              minItems: 1,
              maxItems: 100,
              items: { required: ["productId", "quantity"] },
            },
          },
        },
      },
    });
  });

  test("documents the optional Idempotency-Key header of POST /orders", () => {
    expect(dig(document, "paths", "/orders", "post", "parameters")).toEqual([
      expect.objectContaining({ name: "idempotency-key", in: "header", required: false }),
    ]);
  });

  test("its examples match its schemas", () => {
    expect(examplesNotMatchingSchemas(document)).toEqual([]);
  });

  test.each(exampleRequests(document).map((request) => [request.route, request]))(
    "the example request for %s passes validation and gets a documented response",
    async (_, request) => {
      const response = await orders.app.request(request.url, request.init);
      expect(response.status).not.toBe(400);
      expect(request.statuses).toContain(String(response.status));
      const schema = request.responseSchemas[String(response.status)];
      if (schema) expect(schemaProblem(document, schema, await response.json())).toBeUndefined();
    },
  );

  test("the example order, once its product is known, is placed and matches the 201 schema", async () => {
    const [example] = exampleRequests(document).filter((r) => r.route === "POST /orders");
    const productId = JSON.parse(String(example?.init.body)).lines[0].productId;
    await sales.publishProduct("created", productSnapshot({ productId }));
    const response = await waitFor(
      async () => {
        const placed = await orders.app.request("/orders", example?.init);
        return placed.status === 201 ? placed : undefined;
      },
      { message: "the order placed" },
    );
    const schema = example?.responseSchemas["201"] as object;
    expect(schemaProblem(document, schema, await response.json())).toBeUndefined();
  });
});
