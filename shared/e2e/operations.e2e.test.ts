import { afterAll, describe, expect, test } from "bun:test";
import { jetstream } from "@nats-io/jetstream";
import { connectNats } from "../nats.ts";
import { metricValue } from "../testing/prometheus-text.ts";
import { readStreamMessages } from "../testing/stream-messages.ts";
import { waitFor } from "../testing/test-environment.ts";
import { http, startSystem } from "./system-under-test.ts";

const system = await startSystem({ ordersEnv: { HEALTH_DEAD_UNHEALTHY: "2" } });
afterAll(system.dispose);
const { sales, orders, sql } = system;

type Product = { id: string; version: number };

async function createProduct(sku: string, headers: Record<string, string> = {}) {
  const created = await http<Product>(
    "POST",
    `${sales.url}/products`,
    { sku, name: `Product ${sku}`, price: { amount: 100, currency: "EUR" } },
    headers,
  );
  expect(created.status).toBe(201);
  return created.body;
}

const appliedLine = (productId: string, version = 1) =>
  orders.waitForLog(
    (line) =>
      line.msg === "event applied" &&
      line.subject === productId &&
      line.type === `sales.product.${version === 1 ? "created" : "updated"}.v1`,
  );

const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();

describe("one trace from Sales' request to Orders' handler", () => {
  test("a traceparent sent to Sales is on its request line, the outbox row, the NATS message (header and event), the inbox row and Orders' handler line", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
    const product = await createProduct("TRACE-1", { traceparent });

    const request = await sales.waitForLog(
      (line) => line.msg === "request" && line.method === "POST" && line.traceId === traceId,
    );
    expect(request).toMatchObject({ path: "/products", status: 201 });
    const applied = await appliedLine(product.id);
    expect(applied.traceId).toBe(traceId);

    const [outbox] = await sql<{ headers: { traceparent: string }; inEvent: string }[]>`
      select headers, payload->>'traceparent' as in_event from sales.outbox_messages
      where subject = 'sales.product.created.v1' and payload->>'subject' = ${product.id}`;
    expect(outbox?.headers.traceparent).toBe(traceparent);
    expect(outbox?.inEvent).toBe(traceparent);
    const onStream = (await readStreamMessages(system.natsUrl, system.streamName)).find((m) =>
      m.body.includes(product.id),
    );
    expect(onStream?.headers.traceparent).toBe(traceparent);
    expect(JSON.parse(onStream?.body ?? "{}").traceparent).toBe(traceparent);
    const [inbox] = await sql<{ inEvent: string }[]>`
      select payload->>'traceparent' as in_event from orders.inbox_messages
      where payload->>'subject' = ${product.id}`;
    expect(inbox?.inEvent).toBe(traceparent);
  });

  test("a request without a traceparent starts a trace, and Orders' handler logs the same trace id", async () => {
    const before = sales.logs.length;
    const product = await createProduct("TRACE-2");
    const request = await waitFor(
      () =>
        sales.logs
          .slice(before)
          .find((line) => line.msg === "request" && line.method === "POST" && line.status === 201),
      { message: "Sales' request line" },
    );
    expect(request.traceId).toMatch(/^[0-9a-f]{32}$/);
    const applied = await appliedLine(product.id);
    expect(applied.traceId).toBe(request.traceId as string);
  });
});

describe("GET /metrics", () => {
  test("counters and gauges move as events flow, on both processes", async () => {
    const salesBefore = await scrape(sales.url);
    const ordersBefore = await scrape(orders.url);
    const count = (text: string, name: string, labels?: Record<string, string>) =>
      metricValue(text, name, labels) ?? 0;

    const products = [await createProduct("METRICS-1"), await createProduct("METRICS-2")];
    const patched = await http<Product>("PATCH", `${sales.url}/products/${products[0]?.id}`, {
      name: "Renamed",
    });
    expect(patched.body.version).toBe(2);
    await appliedLine(products[1]?.id as string);
    await appliedLine(products[0]?.id as string, 2);

    // Orders can apply an event before Sales' relay has recorded that it published it.
    const salesAfter = await waitFor(
      async () => {
        const text = await scrape(sales.url);
        const published =
          count(text, "sales_outbox_published_total") -
          count(salesBefore, "sales_outbox_published_total");
        return published >= 3 && metricValue(text, "sales_outbox_pending") === 0 ? text : undefined;
      },
      { message: "Sales' relay to record its three publishes" },
    );
    expect(
      count(salesAfter, "sales_outbox_published_total") -
        count(salesBefore, "sales_outbox_published_total"),
    ).toBe(3);
    const created = { method: "POST", route: "/products", status: "201" };
    expect(
      count(salesAfter, "http_requests_total", created) -
        count(salesBefore, "http_requests_total", created),
    ).toBe(2);
    expect(count(salesAfter, "http_request_duration_seconds_count", created)).toBeGreaterThan(0);
    expect(count(salesAfter, "sales_outbox_relay_batch_duration_seconds_count")).toBeGreaterThan(0);
    expect(metricValue(salesAfter, "sales_outbox_pending")).toBe(0);
    expect(metricValue(salesAfter, "sales_outbox_parked")).toBe(0);

    const ordersAfter = await waitFor(
      async () => {
        const text = await scrape(orders.url);
        return metricValue(text, "orders_inbox_pending") === 0 ? text : undefined;
      },
      { message: "an empty inbox backlog" },
    );
    expect(
      count(ordersAfter, "orders_inbox_processed_total") -
        count(ordersBefore, "orders_inbox_processed_total"),
    ).toBe(3);
    expect(
      count(ordersAfter, "orders_inbox_received_total") -
        count(ordersBefore, "orders_inbox_received_total"),
    ).toBeGreaterThanOrEqual(3);
    expect(
      count(ordersAfter, "orders_inbox_handler_duration_seconds_count", {
        type: "sales.product.updated.v1",
        outcome: "processed",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(count(ordersAfter, "orders_inbox_batch_duration_seconds_count")).toBeGreaterThan(0);
  });

  test("a message delivered twice is counted as a skipped duplicate", async () => {
    const before = metricValue(await scrape(orders.url), "orders_inbox_duplicates_total") ?? 0;
    const productId = Bun.randomUUIDv7();
    const event = JSON.stringify({
      specversion: "1.0",
      id: Bun.randomUUIDv7(),
      source: "sales",
      type: "sales.product.created.v1",
      subject: productId,
      time: new Date().toISOString(),
      datacontenttype: "application/json",
      data: {
        productId,
        sku: "DUP-1",
        name: "Duplicate",
        description: null,
        price: { amount: 1, currency: "EUR" },
        version: 1,
      },
    });
    // Two messages with the same event id, as a re-publish after the duplicate window makes.
    await publish("sales.product.created.v1", event);
    await publish("sales.product.created.v1", event);
    await waitFor(
      async () =>
        (metricValue(await scrape(orders.url), "orders_inbox_duplicates_total") ?? 0) - before >= 1,
      { message: "the duplicate counted" },
    );
    const [row] = await sql<{ count: number }[]>`
      select count(*) from orders.inbox_messages where payload->>'subject' = ${productId}`;
    expect(row?.count).toBe(1);
  });
});

describe("GET /health/messaging", () => {
  test("Sales turns unhealthy while an outbox row waits longer than 300 s, and healthy again", async () => {
    expect(await http("GET", `${sales.url}/health/messaging`)).toMatchObject({
      status: 200,
      body: { status: "healthy", pending: 0 },
    });
    // A row stuck in backoff for ten minutes, as a long NATS outage leaves it.
    const id = Bun.randomUUIDv7();
    await sql`
      insert into sales.outbox_messages (id, type, subject, payload, occurred_at, attempts,
                                         last_error, next_attempt_at)
      values (${id}, 'sales.product.created.v1', 'sales.product.created.v1', '{}',
              now() - interval '10 minutes', 7, 'NATS is not connected', now() + interval '1 hour')`;
    const stuck = await http<{ status: string; oldestPendingAgeMs: number }>(
      "GET",
      `${sales.url}/health/messaging`,
    );
    expect(stuck.status).toBe(503);
    expect(stuck.body.status).toBe("unhealthy");
    expect(stuck.body.oldestPendingAgeMs).toBeGreaterThanOrEqual(600_000);
    const metrics = await scrape(sales.url);
    expect(metricValue(metrics, "sales_outbox_pending")).toBe(1);
    expect(metricValue(metrics, "sales_outbox_oldest_pending_age_seconds")).toBeGreaterThanOrEqual(
      600,
    );

    await sql`delete from sales.outbox_messages where id = ${id}`;
    expect((await http("GET", `${sales.url}/health/messaging`)).body).toMatchObject({
      status: "healthy",
    });
  });

  test("Orders turns degraded with one message it cannot read, unhealthy at the threshold (2 here)", async () => {
    expect((await http("GET", `${orders.url}/health/messaging`)).status).toBe(200);
    await publish("sales.product.created.v1", "this is not JSON 1");
    const degraded = await waitFor(
      async () => {
        const response = await http<{ status: string; dead: number }>(
          "GET",
          `${orders.url}/health/messaging`,
        );
        return response.body.status === "degraded" ? response : undefined;
      },
      { message: "Orders degraded" },
    );
    expect(degraded).toMatchObject({ status: 200, body: { dead: 1 } });
    expect(metricValue(await scrape(orders.url), "orders_inbox_parked")).toBe(1);

    await publish("sales.product.created.v1", "this is not JSON 2");
    const unhealthy = await waitFor(
      async () => {
        const response = await http<{ status: string }>("GET", `${orders.url}/health/messaging`);
        return response.status === 503 ? response : undefined;
      },
      { message: "Orders unhealthy" },
    );
    expect(unhealthy.body.status).toBe("unhealthy");
  });
});

async function publish(subject: string, body: string) {
  const nc = await connectNats(system.natsUrl);
  try {
    await jetstream(nc).publish(`${system.namespace}.${subject}`, body, {
      msgID: Bun.randomUUIDv7(),
    });
  } finally {
    await nc.close();
  }
}
