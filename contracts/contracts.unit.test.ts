import { describe, expect, test } from "bun:test";
import {
  type ParseIntegrationEventResult,
  PRODUCT_CREATED_V1,
  PRODUCT_UPDATED_V1,
  parseIntegrationEvent,
} from "contracts";

function sample(type: string = PRODUCT_CREATED_V1) {
  return {
    specversion: "1.0",
    id: "0193a5c2-7a10-7cc1-8a5e-4b0c2f9e1a01",
    source: "sales",
    type,
    subject: "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77",
    time: "2026-11-27T10:00:00.000Z",
    datacontenttype: "application/json",
    data: {
      productId: "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77",
      sku: "MUG-1",
      name: "Mug",
      description: null,
      price: { amount: 1299, currency: "EUR" },
      version: 1,
    },
  };
}

type Sample = ReturnType<typeof sample>;

function parse(value: unknown): ParseIntegrationEventResult {
  return parseIntegrationEvent(JSON.stringify(value));
}

function issuePaths(event: unknown): string[] {
  const result = parse(event);
  if (result.success) throw new Error("expected the message to be rejected");
  return result.issues.map((issue) => issue.path);
}

function withChange(change: (event: Sample) => void): Sample {
  const event = structuredClone(sample());
  change(event);
  return event;
}

function remove(target: object, key: string) {
  Reflect.deleteProperty(target, key);
}

describe("parseIntegrationEvent", () => {
  test.each([PRODUCT_CREATED_V1, PRODUCT_UPDATED_V1])("accepts a valid %s", (type) => {
    const result = parse({ ...sample(type), data: { ...sample().data, version: 2 } });
    expect(result).toEqual({
      success: true,
      event: { ...sample(type), data: { ...sample().data, version: 2 } } as never,
    });
  });

  test("takes versions up to the largest Postgres int, the type both modules store them as", () => {
    const version = (v: number) =>
      withChange((event) => {
        event.data.version = v;
      });
    expect(parse(version(2_147_483_647)).success).toBe(true);
    expect(issuePaths(version(2_147_483_648))).toEqual(["data.version"]);
  });

  test("reads bytes as well as strings", () => {
    const result = parseIntegrationEvent(new TextEncoder().encode(JSON.stringify(sample())));
    expect(result.success).toBe(true);
  });

  const envelopeFields = ["specversion", "id", "source", "type", "subject", "time", "data"];
  test.each(envelopeFields)("reports a missing envelope field %s by its path", (field) => {
    expect(issuePaths(withChange((event) => remove(event, field)))).toContain(field);
  });

  const dataFields = ["productId", "sku", "name", "description", "price", "version"];
  test.each(dataFields)("reports a missing data field %s by its path", (field) => {
    expect(issuePaths(withChange((event) => remove(event.data, field)))).toEqual([`data.${field}`]);
  });

  test.each(["amount", "currency"])("reports a missing price field %s by its path", (field) => {
    expect(issuePaths(withChange((event) => remove(event.data.price, field)))).toEqual([
      `data.price.${field}`,
    ]);
  });

  const wrongTypes: [string, (event: Record<string, unknown> & Sample) => void][] = [
    ["id", (e) => (e.id = 42 as never)],
    ["time", (e) => (e.time = "yesterday")],
    ["subject", (e) => (e.subject = null as never)],
    ["data.sku", (e) => (e.data.sku = 7 as never)],
    ["data.description", (e) => (e.data.description = 3 as never)],
    ["data.price.amount", (e) => (e.data.price.amount = "12.99" as never)],
    ["data.version", (e) => (e.data.version = "1" as never)],
    ["data.productId", (e) => (e.data.productId = "not-a-uuid")],
    ["traceparent", (e) => (e.traceparent = 5)],
  ];
  test.each(wrongTypes)("reports a wrong type at %s", (path, change) => {
    expect(issuePaths(withChange(change as (event: Sample) => void))).toEqual([path]);
  });

  test("tolerates unknown extra fields (tolerant reader)", () => {
    const event = withChange((e) => {
      Object.assign(e, { tracestate: "vendor=1", extension: { nested: true } });
      Object.assign(e.data, { color: "blue" });
      Object.assign(e.data.price, { taxIncluded: true });
    });
    const result = parse(event);
    expect(result.success).toBe(true);
    if (result.success) expect(result.event.data).toEqual(sample().data);
  });

  test("keeps the trace context an event carries", () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const result = parse({ ...sample(), traceparent });
    expect(result.success && result.event.traceparent).toBe(traceparent);
  });

  const rejected: [string, string, (event: Sample) => void][] = [
    ["a negative amount", "data.price.amount", (e) => (e.data.price.amount = -1)],
    ["a fractional amount", "data.price.amount", (e) => (e.data.price.amount = 12.5)],
    ["an amount over 10^12", "data.price.amount", (e) => (e.data.price.amount = 1e12 + 1)],
    ["a lowercase currency", "data.price.currency", (e) => (e.data.price.currency = "eur")],
    ["a 2-letter currency", "data.price.currency", (e) => (e.data.price.currency = "EU")],
    ["an empty name", "data.name", (e) => (e.data.name = "")],
    ["a lowercase sku", "data.sku", (e) => (e.data.sku = "mug-1")],
    ["version 0", "data.version", (e) => (e.data.version = 0)],
    ["an unknown type", "type", (e) => (e.type = "sales.product.deleted.v1")],
    ["specversion 0.3", "specversion", (e) => (e.specversion = "0.3")],
  ];
  test.each(rejected)("rejects %s with an issue at %s", (_, path, change) => {
    expect(issuePaths(withChange(change))).toContain(path);
  });

  test("returns the envelope of a valid event of an unknown type", () => {
    const result = parse(sample("sales.product.deleted.v1"));
    expect(result.success).toBe(false);
    if (!result.success) expect(result.envelope?.id).toBe(sample().id);
  });

  test.each([
    ["not JSON", "{ nope"],
    ["an empty body", ""],
    ["a JSON string", JSON.stringify("hello")],
    ["a JSON array", "[]"],
    ["JSON null", "null"],
  ])("rejects %s with issues instead of throwing", (_, body) => {
    const result = parseIntegrationEvent(body);
    expect(result.success).toBe(false);
    if (!result.success) expect(result.issues.length).toBeGreaterThan(0);
  });

  test("rejects bytes that are not UTF-8", () => {
    const result = parseIntegrationEvent(new Uint8Array([0xff, 0xfe, 0x7b]));
    expect(result).toMatchObject({ success: false, issues: [{ path: "" }] });
  });
});
