import { describe, expect, test } from "bun:test";
import { PRODUCT_CREATED_V1, type ProductCreatedIntegrationEvent } from "contracts";
import { migrate } from "shared";
import { type ReceivedMessage, storeInboxMessages, storeReceivedMessages } from "shared/inbox";
import { afterTests } from "shared/testing/cleanup.ts";
import { captureLogger } from "shared/testing/silent-logger.ts";
import { createTestDatabase, waitFor } from "shared/testing/test-environment.ts";
import { integrationEventHandlers } from "../integration/handlers.ts";
import { MIGRATIONS, type OrdersProcess } from "../main.ts";
import {
  type FakeSales,
  productEvent,
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";
import { ORDERS_INBOX } from "./orders-inbox.ts";

type InboxRow = {
  id: string;
  type: string | null;
  subject: string;
  status: string;
  attempts: number;
  lastError: string | null;
  streamSequence: number;
  rawBody: Buffer | null;
  nextAttemptAt: Date;
};

async function inboxRow(orders: OrdersProcess, id: string) {
  const [row] = await orders.sql<InboxRow[]>`select * from orders.inbox_messages where id = ${id}`;
  return row;
}

async function cachedProduct(orders: OrdersProcess, id: string) {
  const response = await orders.app.request(`/products/${id}`);
  return response.status === 200 ? ((await response.json()) as Record<string, unknown>) : undefined;
}

const appliedLines = (lines: { msg: string; eventId?: unknown }[], eventId: string) =>
  lines.filter((line) => line.msg === "event applied" && line.eventId === eventId);

/** Acks follow the inbox's commit: once all are in, every message is stored, whatever order the batches took. */
const everyMessageAcked = (sales: FakeSales) =>
  waitFor(
    async () => {
      const info = await sales.jsm.consumers.info(sales.stream, ORDERS_INBOX.consumerName);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    },
    { message: "every message acked" },
  );

/** The job logs "event applied" after its commit: another connection may see the row first. */
async function expectAppliedOnce(lines: { msg: string; eventId?: unknown }[], eventId: string) {
  await waitFor(() => appliedLines(lines, eventId).length > 0, {
    message: `event ${eventId} logged as applied`,
  });
  expect(appliedLines(lines, eventId)).toHaveLength(1);
}

describe("one Orders", async () => {
  const sales = await startFakeSales();
  const logs = captureLogger("orders");
  const orders = await startOrdersUnderTest(sales, { overrides: { log: logs.log } });

  test("a created event becomes a cached product", async () => {
    const data = productSnapshot({ description: "Sales-only detail" });
    const event = await sales.publishProduct("created", data);
    const product = await waitFor(() => cachedProduct(orders, data.productId), {
      message: "cached product",
    });
    expect(product).toMatchObject({
      id: data.productId,
      sku: data.sku,
      name: "Mug",
      price: { amount: 1299, currency: "EUR" },
      version: 1,
    });
    expect(await inboxRow(orders, event.id)).toMatchObject({
      status: "processed",
      type: PRODUCT_CREATED_V1,
    });
  });

  test("the same event delivered twice (new Nats-Msg-Id) is stored once and applied once", async () => {
    const data = productSnapshot();
    const event = await sales.publishProduct("created", data);
    await sales.publishProduct("created", data, { id: event.id, msgID: `${event.id}-again` });
    const marker = await sales.publishProduct("created", productSnapshot());
    await waitFor(async () => (await inboxRow(orders, marker.id))?.status === "processed", {
      message: "marker",
    });
    await everyMessageAcked(sales);

    const [{ count }] = (await orders.sql`
      select count(*)::int as count from orders.inbox_messages where id = ${event.id}`) as [
      { count: number },
    ];
    expect(count).toBe(1);
    await expectAppliedOnce(logs.lines, event.id);
  });

  test("updated v2 before created v1 leaves v2; a stale v1, or another v2, later changes nothing", async () => {
    const v1 = productSnapshot({ name: "Old name" });
    const v2 = { ...v1, name: "New name", price: { amount: 1500, currency: "EUR" }, version: 2 };
    await sales.publishProduct("updated", v2);
    await waitFor(async () => (await cachedProduct(orders, v1.productId))?.version === 2, {
      message: "v2",
    });
    const stale = await sales.publishProduct("created", v1);
    await waitFor(async () => (await inboxRow(orders, stale.id))?.status === "processed", {
      message: "stale v1",
    });
    expect(await cachedProduct(orders, v1.productId)).toMatchObject({
      name: "New name",
      version: 2,
    });

    // Another event at the version the cache holds (a different event id): not applied either.
    const sameVersion = await sales.publishProduct("updated", { ...v2, name: "Same version" });
    await waitFor(async () => (await inboxRow(orders, sameVersion.id))?.status === "processed", {
      message: "the event at the cached version",
    });
    expect(await cachedProduct(orders, v1.productId)).toMatchObject({
      name: "New name",
      version: 2,
    });
  });

  test("malformed and unknown-type messages are stored parked/ignored and acked; others still flow", async () => {
    const garbage = await sales.publishRaw("sales.product.created.v1", "{ this is not json");
    const invalid = await sales.publishRaw(
      "sales.product.created.v1",
      JSON.stringify({
        specversion: "1.0",
        id: Bun.randomUUIDv7(),
        type: PRODUCT_CREATED_V1,
        data: {},
      }),
    );
    const unknownId = Bun.randomUUIDv7();
    await sales.publishRaw(
      "sales.product.deleted.v1",
      JSON.stringify({
        specversion: "1.0",
        id: unknownId,
        source: "sales",
        type: "sales.product.deleted.v1",
        subject: "x",
        time: new Date().toISOString(),
        data: { productId: "x" },
      }),
    );
    const after = productSnapshot();
    await sales.publishProduct("created", after);
    await waitFor(() => cachedProduct(orders, after.productId), {
      message: "a product after the bad ones",
    });
    await everyMessageAcked(sales);

    const parked = await orders.sql<InboxRow[]>`
      select * from orders.inbox_messages where stream_sequence = any(${[garbage.seq, invalid.seq]}::bigint[])
      order by stream_sequence`;
    expect(parked.map((row) => row.status)).toEqual(["parked", "parked"]);
    expect(parked[0]?.rawBody?.toString()).toBe("{ this is not json");
    expect(parked[0]?.lastError).toContain("not valid JSON");
    expect(parked[1]?.lastError).toContain("data.productId");
    expect(parked.every((row) => row.subject.endsWith("sales.product.created.v1"))).toBe(true);
    expect(await inboxRow(orders, unknownId)).toMatchObject({
      status: "ignored",
      type: "sales.product.deleted.v1",
    });

    expect((await orders.app.request("/ready")).status).toBe(200);
  });

  test("a message that Postgres cannot store as jsonb is parked instead of blocking the batch", async () => {
    const data = productSnapshot({ name: "Nul\u0000Byte" });
    const event = await sales.publishProduct("created", data);
    const after = productSnapshot();
    await sales.publishProduct("created", after);
    await waitFor(() => cachedProduct(orders, after.productId), { message: "the next product" });
    await everyMessageAcked(sales);
    const [row] = await orders.sql<InboxRow[]>`
      select * from orders.inbox_messages where raw_body is not null and position(${event.id} in convert_from(raw_body, 'UTF8')) > 0`;
    expect(row).toMatchObject({ status: "parked" });
    expect(row?.lastError).toContain("cannot be stored as JSON");
  });

  test("a batch holding JSON nested too deep for jsonb, or a NUL in a parked message's header, is stored whole", async () => {
    const createdEvent = () => productEvent("created", productSnapshot());
    const [plain, deep] = [createdEvent(), createdEvent()];
    const nested = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const bodies = [
      JSON.stringify(plain),
      JSON.stringify(deep).replace(/}$/, `,"extra":${nested}}`),
      '{"not":"an event"}',
    ];
    const messages = bodies.map(
      (body, index): ReceivedMessage => ({
        subject: "sales.product.created.v1",
        data: new TextEncoder().encode(body),
        streamSequence: 1_000_000 + index,
        headers: { traceparent: index === 2 ? "not\u0000a-trace" : "00-a-b-01" },
      }),
    );

    const stored = await storeReceivedMessages(orders.sql, ORDERS_INBOX, messages, () => false);

    expect(stored.inserted).toBe(3);
    const bySequence = async (offset: number) =>
      (
        await orders.sql<(InboxRow & { headers: Record<string, string> })[]>`
        select * from orders.inbox_messages where stream_sequence = ${1_000_000 + offset}`
      )[0];
    // A readable event's headers are not kept: what Orders needs of them is in the event.
    const readable = await bySequence(0);
    expect(readable).toMatchObject({ id: plain.id, status: "ignored" });
    expect(readable?.headers).toEqual({});
    const tooDeep = await bySequence(1);
    expect(tooDeep).toMatchObject({ status: "parked", headers: { traceparent: "00-a-b-01" } });
    expect(tooDeep?.lastError).toContain("cannot be stored as JSON");
    expect(tooDeep?.rawBody?.toString()).toBe(bodies[1] ?? "");
    expect(await bySequence(2)).toMatchObject({
      status: "parked",
      headers: { traceparent: "not\uFFFDa-trace" },
    });
  });
});

describe("a handler that keeps failing", async () => {
  const sales = await startFakeSales();
  const logs = captureLogger("orders");
  const failing = new Set<string>();
  const orders = await startOrdersUnderTest(sales, {
    env: { INBOX_MAX_ATTEMPTS: "3" },
    overrides: {
      log: logs.log,
      handlers: {
        ...integrationEventHandlers,
        [PRODUCT_CREATED_V1]: async (event: ProductCreatedIntegrationEvent, context) => {
          if (failing.has(event.data.productId)) throw new Error("cache is on fire");
          await integrationEventHandlers[PRODUCT_CREATED_V1]?.(event, context);
        },
      },
    },
  });

  test("is retried with backoff, goes dead after the limit, and does not hold up other rows", async () => {
    const doomed = productSnapshot();
    failing.add(doomed.productId);
    const doomedEvent = await sales.publishProduct("created", doomed);
    const fine = productSnapshot();
    await sales.publishProduct("created", fine);
    await waitFor(() => cachedProduct(orders, fine.productId), { message: "the healthy product" });

    const firstFailure = await waitFor(async () => {
      const row = await inboxRow(orders, doomedEvent.id);
      return row && row.attempts >= 1 ? row : undefined;
    });
    expect(firstFailure).toMatchObject({ status: "pending", lastError: "cache is on fire" });
    expect(firstFailure.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() - 1_000);

    const dead = await waitFor(
      async () => {
        const row = await inboxRow(orders, doomedEvent.id);
        return row?.status === "dead" ? row : undefined;
      },
      { message: "the row to go dead" },
    );
    expect(dead.attempts).toBe(3);
    expect(await cachedProduct(orders, doomed.productId)).toBeUndefined();
    const failures = logs.lines
      .filter((line) => line.eventId === doomedEvent.id)
      .map((line) => line.msg);
    expect(failures).toEqual([
      "event failed, will retry",
      "event failed, will retry",
      "event dead",
    ]);
  });
});

describe("two Orders on one database and one durable consumer", async () => {
  const sales = await startFakeSales();
  const database = await createTestDatabase();
  const [first, second] = [captureLogger("orders-1"), captureLogger("orders-2")];
  const env = { INBOX_BATCH_SIZE: "10" };
  const one = await startOrdersUnderTest(sales, { env, overrides: { log: first.log }, database });
  await startOrdersUnderTest(sales, { env, overrides: { log: second.log }, database });
  afterTests(database.drop);

  test("share the work: every event is stored once and applied once", async () => {
    const events: unknown[] = [];
    for (let i = 0; i < 300; i++)
      events.push(await sales.publishProduct("created", productSnapshot()));
    await waitFor(
      async () => {
        const [{ count }] = (await one.sql`
        select count(*)::int as count from orders.inbox_messages where status = 'processed'`) as [
          { count: number },
        ];
        return count === events.length;
      },
      { message: "every event processed", timeoutMs: 20_000 },
    );

    const appliedLogged = () =>
      [...first.lines, ...second.lines].filter((line) => line.msg === "event applied");
    await waitFor(() => appliedLogged().length >= events.length, {
      message: "every event logged as applied",
    });
    const applied = appliedLogged();
    expect(applied).toHaveLength(events.length);
    expect(new Set(applied.map((line) => line.eventId)).size).toBe(events.length);
    const [{ count }] =
      (await one.sql`select count(*)::int as count from orders.product_cache`) as [
        { count: number },
      ];
    expect(count).toBe(events.length);
    const appliedBy = (lines: typeof first.lines) =>
      lines.filter((line) => line.msg === "event applied").length;
    expect(appliedBy(first.lines)).toBeGreaterThan(0);
    expect(appliedBy(second.lines)).toBeGreaterThan(0);
  });
});

describe("after a crash between the inbox insert and the ack", async () => {
  const sales = await startFakeSales();
  const database = await createTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  const products = Array.from({ length: 5 }, () => productSnapshot());
  const events: Awaited<ReturnType<typeof sales.publishProduct>>[] = [];
  for (const product of products) events.push(await sales.publishProduct("created", product));
  // What the crashed process left: every message stored (pending), none acked, none handled.
  await database.sql.begin((tx) =>
    storeInboxMessages(
      tx,
      ORDERS_INBOX,
      events.map((event, index) => ({
        subject: `${sales.namespace}.${event.type}`,
        data: new TextEncoder().encode(JSON.stringify(event)),
        streamSequence: index + 1,
        headers: {},
      })),
      () => true,
    ),
  );
  const logs = captureLogger("orders");
  const orders = await startOrdersUnderTest(sales, { overrides: { log: logs.log }, database });
  afterTests(database.drop);

  test("the restarted process acks the redelivered messages and applies each event once", async () => {
    await waitFor(
      async () => {
        const info = await sales.jsm.consumers.info(sales.stream, ORDERS_INBOX.consumerName);
        return (
          info.num_ack_pending === 0 &&
          info.num_pending === 0 &&
          info.delivered.stream_seq === events.length
        );
      },
      { message: "every redelivered message acked" },
    );
    for (const product of products) await waitFor(() => cachedProduct(orders, product.productId));
    const rows = await orders.sql<{ status: string }[]>`select status from orders.inbox_messages`;
    expect(rows.map((row) => row.status)).toEqual(Array(events.length).fill("processed"));
    for (const event of events) await expectAppliedOnce(logs.lines, event.id);
  });
});

describe("while the inbox cannot store a message", async () => {
  const sales = await startFakeSales();
  const logs = captureLogger("orders");
  const orders = await startOrdersUnderTest(sales, { overrides: { log: logs.log } });

  test("the message is not acked, and is stored and applied once the inbox takes it again", async () => {
    const product = productSnapshot();
    await orders.database.sql.unsafe(`
      create function public.refuse_inbox_rows() returns trigger language plpgsql as $$
      begin raise exception 'the inbox refuses rows for this test'; end $$;
      create trigger refuse_inbox_rows before insert on orders.inbox_messages
        for each row execute function public.refuse_inbox_rows();`);
    const event = await sales.publishProduct("created", product);
    await waitFor(
      () =>
        logs.lines.some((line) => line.msg === "cannot store messages; they will be redelivered"),
      {
        message: "the store to fail",
      },
    );
    const consumer = await sales.jsm.consumers.info(sales.stream, ORDERS_INBOX.consumerName);
    expect(consumer.ack_floor.stream_seq).toBe(0);
    expect(await inboxRow(orders, event.id)).toBeUndefined();

    await orders.database.sql.unsafe(`
      drop trigger refuse_inbox_rows on orders.inbox_messages;
      drop function public.refuse_inbox_rows();`);
    await waitFor(() => cachedProduct(orders, product.productId), {
      message: "the redelivered message applied",
    });
    expect(await inboxRow(orders, event.id)).toMatchObject({ status: "processed" });
    await expectAppliedOnce(logs.lines, event.id);
  });
});
