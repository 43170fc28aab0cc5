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
import { startSalesUnderTest } from "../testing/sales-under-test.ts";

const sales = await startSalesUnderTest();
const document: unknown = await (await sales.app.request("/openapi.json")).json();

describe("Sales' OpenAPI document", () => {
  test("is a valid OpenAPI 3.1 document", async () => {
    expect(dig(document, "openapi")).toBe("3.1.0");
    expect(await openApiProblems(document)).toEqual([]);
  });

  test("lists every route the app serves, and the ones the README names", () => {
    const documented = documentedRoutes(document);
    expect(documented.toSorted()).toEqual(servedRoutes(sales.app).toSorted());
    for (const route of [
      "POST /products",
      "PATCH /products/{id}",
      "GET /products/{id}",
      "GET /products",
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

  test("carries the request schemas of the validators", () => {
    const create = dig(document, "paths", "/products", "post", "requestBody", "content");
    expect(create).toMatchObject({
      "application/json": {
        schema: {
          required: ["sku", "name", "price"],
          properties: { sku: { pattern: "^[A-Z0-9-]{1,64}$" } },
          additionalProperties: false,
        },
      },
    });
    expect(dig(document, "paths", "/products/{id}", "get", "parameters")).toMatchObject([
      { name: "id", in: "path", required: true, schema: { format: "uuid" } },
    ]);
  });

  test("documents the optional Idempotency-Key header of POST /products", () => {
    expect(dig(document, "paths", "/products", "post", "parameters")).toEqual([
      expect.objectContaining({ name: "idempotency-key", in: "header", required: false }),
    ]);
  });

  test("documents the 413 of a body too large and the 503 of every route that uses the database", () => {
    const statuses = (path: string, method: string) =>
      Object.keys(dig(document, "paths", path, method, "responses") as object);
    expect(statuses("/products", "post")).toEqual(expect.arrayContaining(["413", "503"]));
    expect(statuses("/products/{id}", "patch")).toEqual(expect.arrayContaining(["413", "503"]));
    expect(statuses("/products/{id}", "get")).toContain("503");
    expect(statuses("/products/{id}", "get")).not.toContain("413");
    expect(statuses("/health", "get")).toEqual(["200"]);
  });

  test("its examples match its schemas", () => {
    expect(examplesNotMatchingSchemas(document)).toEqual([]);
  });

  test.each(exampleRequests(document).map((request) => [request.route, request]))(
    "the example request for %s passes validation and gets a documented response",
    async (_, request) => {
      const response = await sales.app.request(request.url, request.init);
      expect(response.status).not.toBe(400);
      expect(request.statuses).toContain(String(response.status));
      const schema = request.responseSchemas[String(response.status)];
      if (schema) expect(schemaProblem(document, schema, await response.json())).toBeUndefined();
    },
  );

  test("a request the schemas reject is refused with 400", async () => {
    const response = await sales.app.request("/products", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sku: "lowercase", name: "", price: { amount: -1, currency: "EUR" } }),
    });
    expect(response.status).toBe(400);
  });

  test("GET /docs serves Swagger UI for the document, with its assets", async () => {
    const page = await sales.app.request("/docs");
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain('url: "openapi.json"');
    for (const [, asset] of html.matchAll(/(?:href|src)="(docs\/assets\/[^"]+)"/g)) {
      const response = await sales.app.request(`/${asset}`);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    }
    expect((await sales.app.request("/docs/assets/package.json")).status).toBe(404);
  });
});
