import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { PRODUCT_CREATED_V1, PRODUCT_UPDATED_V1, parseIntegrationEvent } from "contracts";
import { connectNats } from "shared";
import { readStreamMessages } from "shared/testing/stream-messages.ts";
import { testEnv, waitFor } from "shared/testing/test-environment.ts";
import { startSalesUnderTest } from "../testing/sales-under-test.ts";

const sales = await startSalesUnderTest();
const streamName = sales.stream.spec.name;

let skuCounter = 0;
const nextSku = () => `SKU-${Date.now()}-${++skuCounter}`;

function request(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return sales.app.request(path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function createMug(overrides: Record<string, unknown> = {}) {
  const response = await request("POST", "/products", {
    sku: nextSku(),
    name: "Mug",
    price: { amount: 1299, currency: "EUR" },
    ...overrides,
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; sku: string; version: number };
}

async function outboxRows() {
  return sales.sql<{ id: string; type: string; subject: string; publishedAt: Date | null }[]>`
    select id, type, subject, published_at from sales.outbox_messages order by occurred_at`;
}

async function messagesFor(productId: string) {
  const messages = await readStreamMessages(testEnv.NATS_URL, streamName);
  return messages.filter((m) => m.body.includes(productId));
}

async function waitUntilAllPublished() {
  await waitFor(async () => (await outboxRows()).every((row) => row.publishedAt !== null), {
    message: "every outbox row published",
  });
}

describe("POST /products", () => {
  test("creates the product and puts exactly one created event on the stream", async () => {
    const product = await createMug({ description: "Holds coffee" });
    expect(product).toMatchObject({ version: 1, description: "Holds coffee" });
    await waitUntilAllPublished();

    const messages = await messagesFor(product.id);
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message?.subject).toBe(`${sales.names.subject(PRODUCT_CREATED_V1)}`);
    const parsed = parseIntegrationEvent(message?.body ?? "");
    if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
    expect(message?.headers["Nats-Msg-Id"]).toBe(parsed.event.id);
    expect(message?.headers["Content-Type"]).toBe("application/cloudevents+json");
    expect(parsed.event).toMatchObject({
      type: PRODUCT_CREATED_V1,
      source: "sales",
      subject: product.id,
    });
    expect(parsed.event.data).toEqual({
      productId: product.id,
      sku: product.sku,
      name: "Mug",
      description: "Holds coffee",
      price: { amount: 1299, currency: "EUR" },
      version: 1,
    });
  });

  test("a duplicate sku is a 409 and writes neither product nor outbox row", async () => {
    const product = await createMug();
    const rowsBefore = (await outboxRows()).length;
    const response = await request("POST", "/products", {
      sku: product.sku,
      name: "Another",
      price: { amount: 1, currency: "EUR" },
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: "conflict" } });
    expect((await outboxRows()).length).toBe(rowsBefore);
    const [{ count }] =
      (await sales.sql`select count(*)::int as count from sales.products where sku = ${product.sku}`) as [
        { count: number },
      ];
    expect(count).toBe(1);
  });

  test("an invalid body is a 400 listing every issue, and writes nothing", async () => {
    const rowsBefore = (await outboxRows()).length;
    const response = await request("POST", "/products", {
      sku: "bad sku",
      name: "",
      price: { amount: 1.5, currency: "eu" },
      colour: "red",
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { issues: { path: string }[] } };
    expect(body.error.issues.map((issue) => issue.path).sort()).toEqual(
      ["colour", "name", "price.amount", "price.currency", "sku"].sort(),
    );
    expect((await outboxRows()).length).toBe(rowsBefore);
  });

  test.each([
    ["not JSON", "{ nope", "application/json"],
    ["the wrong content type", '{"sku":"A"}', "text/plain"],
    ["an array", "[]", "application/json"],
    ["a missing price", JSON.stringify({ sku: "A", name: "B" }), "application/json"],
  ])("a body that is %s is a 400, never a 500", async (_, body, type) => {
    const response = await sales.app.request("/products", {
      method: "POST",
      headers: { "content-type": type },
      body,
    });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text).not.toContain("    at ");
  });
});

describe("POST /products with an Idempotency-Key", () => {
  const mug = () => ({ sku: nextSku(), name: "Mug", price: { amount: 1299, currency: "EUR" } });
  const withKey = (body: unknown, key: string) =>
    request("POST", "/products", body, { "Idempotency-Key": key });
  const eventsFor = async (productId: string) => {
    const [row] = await sales.sql<{ count: number }[]>`
      select count(*)::int as count from sales.outbox_messages
      where payload->>'subject' = ${productId}`;
    return row?.count;
  };

  test("repeated, it answers with the first product and writes no second event", async () => {
    const body = mug();
    const key = `create-${crypto.randomUUID()}`;
    const first = await withKey(body, key);
    expect(first.status).toBe(201);
    expect(first.headers.get("Idempotent-Replayed")).toBe("false");
    const created = (await first.json()) as { id: string };

    const again = await withKey(body, key);
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await again.json()).toEqual(created);
    expect(await eventsFor(created.id)).toBe(1);
  });

  test("copies racing with the same key create one product, and all get it", async () => {
    const body = mug();
    const key = `race-${crypto.randomUUID()}`;
    const responses = await Promise.all(Array.from({ length: 8 }, () => withKey(body, key)));
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(201));
    const ids = await Promise.all(
      responses.map(async (response) => ((await response.json()) as { id: string }).id),
    );
    expect(new Set(ids).size).toBe(1);
    const fresh = responses.filter((r) => r.headers.get("Idempotent-Replayed") === "false");
    expect(fresh).toHaveLength(1);
    expect(await eventsFor(ids[0] as string)).toBe(1);
  });

  test("the same key for another request is a 422; another key for the same sku is a 409", async () => {
    const body = mug();
    const key = `other-${crypto.randomUUID()}`;
    const created = (await (await withKey(body, key)).json()) as { id: string };

    for (const other of [
      { ...body, sku: nextSku() },
      { ...body, price: { amount: 1, currency: "EUR" } },
    ]) {
      const response = await withKey(other, key);
      expect(response.status).toBe(422);
      expect(await response.json()).toMatchObject({
        error: {
          issues: [
            {
              path: "Idempotency-Key",
              message: `already created product ${created.id} from another request`,
            },
          ],
        },
      });
    }
    // The same request, but for the whitespace the name loses: the same product.
    const padded = await withKey({ ...body, name: ` ${body.name} ` }, key);
    expect(padded.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await withKey(body, `${key}-2`)).status).toBe(409);
    expect((await request("POST", "/products", body)).status).toBe(409);
  });
});

describe("PATCH /products/:id", () => {
  test("a change adds one updated event with version 2; a no-op change adds none", async () => {
    const product = await createMug();
    const patched = await request("PATCH", `/products/${product.id}`, {
      price: { amount: 1499, currency: "EUR" },
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ version: 2, price: { amount: 1499 } });

    const noop = await request("PATCH", `/products/${product.id}`, { name: "Mug" });
    expect(noop.status).toBe(200);
    expect(await noop.json()).toMatchObject({ version: 2 });
    await waitUntilAllPublished();

    const messages = await messagesFor(product.id);
    expect(messages.map((m) => m.subject)).toEqual([
      sales.names.subject(PRODUCT_CREATED_V1),
      sales.names.subject(PRODUCT_UPDATED_V1),
    ]);
    const updated = parseIntegrationEvent(messages[1]?.body ?? "");
    expect(updated.success && updated.event.data).toMatchObject({
      version: 2,
      price: { amount: 1499 },
    });
  });

  test("an unknown id is a 404; a malformed id is a 400", async () => {
    const unknown = await request("PATCH", `/products/${Bun.randomUUIDv7()}`, { name: "X" });
    expect(unknown.status).toBe(404);
    const malformed = await request("PATCH", "/products/42", { name: "X" });
    expect(malformed.status).toBe(400);
  });

  test("an invalid change is a 400 and leaves the product and outbox as they were", async () => {
    const product = await createMug();
    const rowsBefore = (await outboxRows()).length;
    const response = await request("PATCH", `/products/${product.id}`, { name: "", sku: "NEW" });
    expect(response.status).toBe(400);
    expect((await outboxRows()).length).toBe(rowsBefore);
    const current = await (await request("GET", `/products/${product.id}`)).json();
    expect(current).toMatchObject({ name: "Mug", version: 1 });
  });
});

describe("GET /products", () => {
  test("returns one product, 404 for an unknown one", async () => {
    const product = await createMug();
    const found = await request("GET", `/products/${product.id}`);
    expect(found.status).toBe(200);
    expect(await found.json()).toMatchObject({ id: product.id, sku: product.sku });
    expect((await request("GET", `/products/${Bun.randomUUIDv7()}`)).status).toBe(404);
  });

  test("gives back, field for field, what a creation and a change answered (the repository stores every field)", async () => {
    const created = await request("POST", "/products", {
      sku: nextSku(),
      name: "Mug",
      description: "Stoneware",
      price: { amount: 1299, currency: "EUR" },
    });
    const product = (await created.json()) as { id: string };
    expect(await (await request("GET", `/products/${product.id}`)).json()).toEqual(product);
    const patched = await request("PATCH", `/products/${product.id}`, {
      name: "Big mug",
      description: null,
      price: { amount: 1499, currency: "USD" },
    });
    const changed = await patched.json();
    expect(changed).toMatchObject({ version: 2, name: "Big mug" });
    expect(await (await request("GET", `/products/${product.id}`)).json()).toEqual(changed);
  });

  test("pages through every product", async () => {
    for (let i = 0; i < 3; i++) await createMug();
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const response = await request("GET", `/products?limit=2${after ? `&after=${after}` : ""}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { items: { id: string }[]; next: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => item.id));
      after = page.next;
    } while (after);
    const [{ count }] = (await sales.sql`select count(*)::int as count from sales.products`) as [
      { count: number },
    ];
    expect(new Set(seen).size).toBe(count);
    expect((await request("GET", "/products?limit=0")).status).toBe(400);
  });
});

test("Sales ensures its stream: sales.>, limits, file storage, 2 min duplicate window", async () => {
  const nc = await connectNats(testEnv.NATS_URL);
  const info = await (await jetstreamManager(nc)).streams.info(streamName);
  await nc.close();
  expect(info.config).toMatchObject({
    subjects: [sales.names.subject("sales.>")],
    retention: "limits",
    storage: "file",
    duplicate_window: 120_000_000_000,
    max_age: 30 * 24 * 60 * 60 * 1_000_000_000,
  });
});

test("unknown routes are a JSON 404; /health and /ready answer", async () => {
  const missing = await request("GET", "/nope");
  expect(missing.status).toBe(404);
  expect(await missing.json()).toMatchObject({ error: { code: "not_found" } });
  expect((await request("GET", "/health")).status).toBe(200);
  await waitFor(async () => (await request("GET", "/ready")).status === 200, { message: "ready" });
  expect(await (await request("GET", "/ready")).json()).toEqual({
    status: "ready",
    checks: { postgres: "up", nats: "up", stream: "up" },
  });
});
