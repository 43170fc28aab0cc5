import { describe, expect, test } from "bun:test";
import { PRODUCT_CREATED_V1, type ProductCreatedIntegrationEvent } from "contracts";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { waitFor } from "shared/testing/test-environment.ts";
import { integrationEventHandlers } from "../integration/handlers.ts";
import {
  productEvent,
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";

function runReplay(databaseUrl: string, args: string[]) {
  return runScriptProcess("orders/scripts/inbox-replay.ts", args, { DATABASE_URL: databaseUrl });
}

describe("bun run inbox:replay", async () => {
  const sales = await startFakeSales();
  const failing = new Set<string>();
  const orders = await startOrdersUnderTest(sales, {
    env: { INBOX_MAX_ATTEMPTS: "1", INBOX_POLL_MS: "60000" },
    overrides: {
      handlers: {
        ...integrationEventHandlers,
        [PRODUCT_CREATED_V1]: async (event: ProductCreatedIntegrationEvent, context) => {
          if (failing.has(event.data.productId)) throw new Error("downstream bug");
          await integrationEventHandlers[PRODUCT_CREATED_V1]?.(event, context);
        },
      },
    },
  });
  const statusOf = async (id: string) =>
    (
      await orders.sql<
        { status: string }[]
      >`select status from orders.inbox_messages where id = ${id}`
    )[0]?.status;

  test("--help explains it", async () => {
    const { code, stdout } = await runReplay(orders.database.url, ["--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("--all-dead");
  });

  test("an --id that is not in the inbox is reported, and the script exits 1", async () => {
    const unknown = Bun.randomUUIDv7();
    const { code, stdout } = await runReplay(orders.database.url, ["--id", unknown]);
    expect(code).toBe(1);
    expect(stdout).toContain("inbox:replay: 0 of 1 row(s) given another chance");
    expect(stdout).toContain(`${unknown}  not found`);
  });

  test("--all-dead puts dead rows back to pending; the running Orders applies them at once", async () => {
    const products = [productSnapshot(), productSnapshot()];
    for (const product of products) failing.add(product.productId);
    const events = [];
    for (const product of products) events.push(await sales.publishProduct("created", product));
    for (const event of events)
      await waitFor(async () => (await statusOf(event.id)) === "dead", { message: "dead" });

    failing.clear();
    const { code, stdout } = await runReplay(orders.database.url, ["--all-dead"]);
    expect(code).toBe(0);
    expect(stdout).toContain("inbox:replay: 2 of 2 row(s) given another chance");
    for (const event of events) expect(stdout).toContain(`${event.id}  requeued`);
    // INBOX_POLL_MS is 60 s: only the NOTIFY wake-up can make this quick.
    for (const event of events) {
      await waitFor(async () => (await statusOf(event.id)) === "processed", {
        timeoutMs: 20_000,
        message: "processed",
      });
    }
  });

  test("an --id in upper case is the same row", async () => {
    const product = productSnapshot();
    failing.add(product.productId);
    const event = await sales.publishProduct("created", product);
    await waitFor(async () => (await statusOf(event.id)) === "dead", { message: "dead" });
    failing.clear();
    const { code, stdout } = await runReplay(orders.database.url, ["--id", event.id.toUpperCase()]);
    expect(code).toBe(0);
    expect(stdout).toContain(`${event.id}  requeued`);
    expect(stdout).not.toContain("not found");
  });

  test("a parked row Postgres still cannot store says why it stays parked", async () => {
    const event = await sales.publishProduct("created", productSnapshot({ name: "Mug\u0000" }));
    const parked = await waitFor(
      async () =>
        (
          await orders.sql<{ id: string }[]>`
            select id from orders.inbox_messages
            where status = 'parked' and convert_from(raw_body, 'UTF8') like ${`%${event.id}%`}`
        )[0]?.id,
      { message: "the event parked" },
    );
    const { code, stdout } = await runReplay(orders.database.url, ["--id", parked]);
    expect(code).toBe(0);
    expect(stdout).toContain(`${parked}  still unreadable: cannot be stored as JSON`);
  });

  test("--id re-reads a parked row that this version can read, and says what it did", async () => {
    const product = productSnapshot();
    const event = productEvent("created", product);
    // As an older Orders that could not read this event would have left it.
    const parkedId = Bun.randomUUIDv7();
    await orders.sql`
      insert into orders.inbox_messages (id, subject, raw_body, stream_sequence, status, last_error)
      values (${parkedId}, ${`${sales.namespace}.${PRODUCT_CREATED_V1}`},
              ${Buffer.from(JSON.stringify(event))}, 999, 'parked', 'not a valid event')`;
    const garbageId = Bun.randomUUIDv7();
    await orders.sql`
      insert into orders.inbox_messages (id, subject, raw_body, stream_sequence, status, last_error)
      values (${garbageId}, 'x', ${Buffer.from("not json")}, 1000, 'parked', 'not a valid event')`;
    const processed =
      (
        await orders.sql<
          { id: string }[]
        >`select id from orders.inbox_messages where status = 'processed' limit 1`
      )[0]?.id ?? "";

    const { code, stdout } = await runReplay(orders.database.url, [
      "--id",
      parkedId,
      "--id",
      garbageId,
      "--id",
      processed,
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain(`${parkedId}  read again as event ${event.id} (pending)`);
    expect(stdout).toContain(
      `${garbageId}  still unreadable: not a valid event: (message): not valid JSON`,
    );
    expect(stdout).toContain(`${processed}  is processed: nothing to replay`);
    await waitFor(async () => (await statusOf(event.id)) === "processed", {
      timeoutMs: 20_000,
      message: "re-read event applied",
    });
    expect(await statusOf(parkedId)).toBeUndefined();
    expect(await statusOf(garbageId)).toBe("parked");
  });

  test("--all-ignored re-queues ignored rows of a type this version handles; --id says when it has no handler", async () => {
    const product = productSnapshot();
    const handled = productEvent("created", product);
    const unknown = { ...handled, id: Bun.randomUUIDv7(), type: "sales.product.teleported.v1" };
    // As an instance without a handler for these types (not yet upgraded) left them.
    for (const [event, sequence] of [
      [handled, 1001],
      [unknown, 1002],
    ] as const) {
      await orders.sql`
        insert into orders.inbox_messages (id, type, subject, payload, stream_sequence, status, last_error)
        values (${event.id}, ${event.type}, ${`${sales.namespace}.${event.type}`}, ${orders.sql.json(event)},
                ${sequence}, 'ignored', ${`no handler for ${event.type}`})`;
    }

    const all = await runReplay(orders.database.url, ["--all-ignored"]);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain(`${handled.id}  requeued`);
    expect(all.stdout).not.toContain(unknown.id);
    await waitFor(async () => (await statusOf(handled.id)) === "processed", {
      timeoutMs: 20_000,
      message: "the re-queued event applied",
    });
    const [cached] = await orders.sql`
      select version from orders.product_cache where product_id = ${product.productId}`;
    expect(cached).toEqual({ version: product.version });

    const byId = await runReplay(orders.database.url, ["--id", unknown.id]);
    expect(byId.code).toBe(0);
    expect(byId.stdout).toContain(
      `${unknown.id}  no handler for sales.product.teleported.v1 in this version: left ignored`,
    );
    expect(await statusOf(unknown.id)).toBe("ignored");
  });
});
