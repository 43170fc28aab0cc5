import { afterAll, describe, expect, test } from "bun:test";
import { jetstream } from "@nats-io/jetstream";
import type { ProductSnapshot } from "contracts";
import { closeDatabase, connectNats, createDatabase } from "shared";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { captureLogger, silentLogger } from "shared/testing/silent-logger.ts";
import { testEnv, waitFor } from "shared/testing/test-environment.ts";
import {
  type RebuildOptions,
  RebuildRunningError,
  rebuildProductCache,
} from "../infrastructure/product-cache-rebuild.ts";
import { integrationEventHandlers } from "../integration/handlers.ts";
import {
  productEvent,
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";
import { PRUNE_NOT_APPLIED } from "./rebuild-cache.ts";

const sales = await startFakeSales();
const orders = await startOrdersUnderTest(sales);
/** A stream as NATS recreates it after losing its store: empty, from sequence 0. */
const emptySales = await startFakeSales();
const env = {
  DATABASE_URL: orders.database.url,
  NATS_URL: testEnv.NATS_URL,
  NATS_NAMESPACE: sales.namespace,
};
const nc = await connectNats(testEnv.NATS_URL);

/** The rebuild against Orders' cache and the fake Sales stream, with `options` on top. */
const rebuild = (options: Partial<RebuildOptions> = {}) =>
  rebuildProductCache({
    sql: orders.sql,
    js: jetstream(nc),
    stream: sales.stream,
    handlers: integrationEventHandlers,
    log: silentLogger,
    ...options,
  });
afterAll(() => nc.close());

type CacheRow = {
  productId: string;
  sku: string;
  name: string;
  priceAmount: number;
  priceCurrency: string;
  version: number;
};

/** What Sales said last about each product: the cache a correct Orders converges to. */
const truth = new Map<string, ProductSnapshot>();
let published = 0;
async function publish(kind: "created" | "updated", snapshot: ProductSnapshot) {
  await sales.publishProduct(kind, snapshot);
  published++;
  const known = truth.get(snapshot.productId);
  if (!known || known.version < snapshot.version) truth.set(snapshot.productId, snapshot);
}

/**
 * Every column but `updated_at`: a column added to the cache shows here, and the tests fail until
 * `expected` (what the events say) and the rebuild (which must copy it) know it.
 */
const cache = async (): Promise<CacheRow[]> =>
  (
    await orders.sql<(CacheRow & { updatedAt: Date })[]>`
      select * from orders.product_cache order by product_id`
  ).map(({ updatedAt: _, ...row }) => row);
const expected = (): CacheRow[] =>
  [...truth.values()]
    .map((p) => ({
      productId: p.productId,
      sku: p.sku,
      name: p.name,
      priceAmount: p.price.amount,
      priceCurrency: p.price.currency,
      version: p.version,
    }))
    .sort((a, b) => (a.productId < b.productId ? -1 : 1));
/**
 * Waits until Orders has stored and applied every event published so far, then checks its cache
 * against what the events say: a column the test does not know yet fails here, with the diff.
 */
async function settled() {
  await waitFor(
    async () =>
      (await orders.sql`select 1 from orders.inbox_messages where status = 'pending'`).length ===
        0 && (await orders.sql`select 1 from orders.inbox_messages`).length >= published,
    { message: "Orders stored and applied every event" },
  );
  expect(await cache()).toEqual(expected());
}

// A history with updates, a stale copy that arrives late, and a message that is not an event.
const [p1, p2, p3, p4] = [
  productSnapshot(),
  productSnapshot(),
  productSnapshot(),
  productSnapshot(),
];
await publish("created", p1);
await publish("updated", { ...p1, name: "Mug v2", version: 2 });
await publish("updated", { ...p1, price: { amount: 1500, currency: "EUR" }, version: 3 });
await publish("created", p2);
await publish("updated", { ...p2, name: "Plate v2", version: 2 });
await publish("created", p2); // a stale v1 again (new event id): the guard ignores it
await publish("created", p3);
await publish("created", p4);
await publish("updated", { ...p4, version: 2 });
await sales.publishRaw("sales.product.created.v1", "not an event");
published++;
await settled();

const insertGhost = async () => {
  const productId = Bun.randomUUIDv7();
  await orders.sql`
    insert into orders.product_cache (product_id, sku, name, price_amount, price_currency, version)
    values (${productId}, 'GHOST', 'Ghost', 1, 'EUR', 1)`;
  return productId;
};

test("the rebuild's scratch table has the cache's columns", async () => {
  const columns = (table: string) => orders.sql<{ name: string; type: string }[]>`
    select column_name as name, data_type as type from information_schema.columns
    where table_schema = 'orders' and table_name = ${table} order by column_name`;
  const cached = await columns("product_cache");
  expect(cached.length).toBeGreaterThan(5);
  expect([...(await columns("product_cache_rebuild"))]).toEqual([...cached]);
});

describe("bun run orders:rebuild-cache", () => {
  test("without --prune, a cached product the stream does not mention is kept, and the summary says --prune would delete it", async () => {
    const ghost = await insertGhost();
    const result = await runScriptProcess("orders/scripts/rebuild-cache.ts", [], env);
    expect(result).toMatchObject({ code: 0 }); // on failure, shows its stderr too
    expect(result.stdout).toMatch(/Not in the stream: +1 kept, 0 removed\n/);
    expect(result.stdout).toContain(
      "The 1 cached product(s) the stream does not mention were kept as they are; --prune would delete them.",
    );
    const [kept] = await orders.sql`select 1 from orders.product_cache where product_id = ${ghost}`;
    expect(kept).toBeDefined();
    await orders.sql`delete from orders.product_cache where product_id = ${ghost}`;
    expect(await cache()).toEqual(expected());
  });

  test("on an empty stream (recreated after NATS lost its store) it removes nothing, even with --prune, and exits 3 to say so", async () => {
    const before = await cache();
    expect(before.length).toBeGreaterThan(0);
    const result = await runScriptProcess(
      "orders/scripts/rebuild-cache.ts",
      ["--json", "--prune"],
      {
        ...env,
        NATS_NAMESPACE: emptySales.namespace,
      },
    );
    expect(result).toMatchObject({ code: PRUNE_NOT_APPLIED }); // on failure, shows its stderr too
    expect(JSON.parse(result.stdout)).toMatchObject({
      stream: emptySales.stream,
      complete: false,
      messagesRead: 0,
      products: 0,
      removed: 0,
      keptNotInStream: before.length,
    });
    expect(await cache()).toEqual(before);
    const text = await runScriptProcess("orders/scripts/rebuild-cache.ts", ["--prune"], {
      ...env,
      NATS_NAMESPACE: emptySales.namespace,
    });
    expect(text).toMatchObject({ code: PRUNE_NOT_APPLIED });
    expect(text.stdout).toContain("--prune was not applied.");
  });

  test("repairs a damaged cache from the stream: the result equals the cache built live", async () => {
    const live = await cache();
    expect(live).toEqual(expected());
    // Damage: a row lost, a row with wrong content at its version, a row no event ever made.
    await orders.sql`delete from orders.product_cache where product_id = ${p3.productId}`;
    await orders.sql`update orders.product_cache set name = 'garbage' where product_id = ${p1.productId}`;
    await insertGhost();

    const result = await runScriptProcess(
      "orders/scripts/rebuild-cache.ts",
      ["--json", "--prune"],
      env,
    );
    expect(result).toMatchObject({ code: 0 }); // on failure, shows its stderr too
    expect(result.stderr).toContain("100%");
    expect(JSON.parse(result.stdout)).toMatchObject({
      stream: sales.stream,
      firstSeq: 1,
      lastSeq: 10,
      complete: true,
      messagesRead: 10,
      eventsHandled: 9,
      skipped: { unreadable: 1, unhandled: 0, failed: 0 },
      products: 4,
      added: 1,
      replaced: 1,
      newerKept: 0,
      removed: 1,
      keptNotInStream: 0,
    });
    expect(await cache()).toEqual(live);
  });

  test("live updates during the rebuild are neither lost nor replaced by older versions, and Orders keeps serving", async () => {
    const [p5, p6] = [productSnapshot(), productSnapshot()];
    let served: number[] = [];
    const result = await rebuild({
      batchSize: 2,
      // With a complete stream: rows only live updates made must not be pruned either.
      prune: true,
      // After the replay: a new product and a newer version, applied live before the swap.
      beforeSwap: async () => {
        await publish("created", p5);
        await publish("updated", { ...p1, name: "Mug v4", version: 4 });
        await settled();
        await expect(rebuild()).rejects.toBeInstanceOf(RebuildRunningError);
      },
      // While the swap holds the lock: more events arrive and wait; reads still answer.
      whileLocked: async () => {
        const before = published;
        await publish("created", p6);
        await publish("updated", { ...p2, name: "Plate v3", version: 3 });
        await waitFor(
          async () => (await orders.sql`select 1 from orders.inbox_messages`).length >= before + 2,
          { message: "the new events stored in the inbox" },
        );
        served = [
          (await orders.app.request(`/products/${p1.productId}`)).status,
          (
            await orders.app.request("/orders", {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ lines: [{ productId: p4.productId, quantity: 1 }] }),
            })
          ).status,
        ];
      },
    });
    expect(served).toEqual([200, 201]);
    expect(result).toMatchObject({ complete: true, removed: 0 });
    expect(result.products).toBeGreaterThanOrEqual(5);
    await settled();
    expect(await cache()).toEqual(expected());
  });

  test("a rebuild whose session Postgres ended changes nothing, even with --prune", async () => {
    const before = await cache();
    // A pool of its own: postgres.js 3.4.9 hands a reserved connection Postgres ended back to
    // its pool, where later reservations hang (the script exits after a failed rebuild).
    const pool = createDatabase(orders.database.url, { name: "rebuild-test", max: 2 });
    try {
      await expect(
        rebuild({
          sql: pool,
          prune: true,
          // As a Postgres restart would: the session holding the lock ends, the unlogged
          // rebuild table comes back empty, and the replay carries on from where it was.
          beforeSwap: async () => {
            await orders.database.sql`
              select pg_terminate_backend(pid) from pg_locks
              where locktype = 'advisory' and granted and database = (
                select oid from pg_database where datname = current_database())`;
            await orders.sql`delete from orders.product_cache_rebuild`;
          },
        }),
      ).rejects.toThrow(/lost its session to Postgres/);
    } finally {
      await closeDatabase(pool, 1);
    }
    expect(await cache()).toEqual(before);
    expect(await rebuild({ prune: true })).toMatchObject({ complete: true, removed: 0 });
    expect(await cache()).toEqual(before);
  });

  test("with messages gone from the stream, products it no longer mentions are kept", async () => {
    const stream = await (await jetstream(nc).streams.get(sales.stream)).info();
    // p3's only event is sequence 7: as if max_age had removed it.
    const jsm = await jetstream(nc).jetstreamManager();
    expect(await jsm.streams.deleteMessage(sales.stream, 7)).toBe(true);
    const result = await rebuild();
    expect(result).toMatchObject({ complete: false, removed: 0, keptNotInStream: 1 });
    expect(result.messagesRead).toBe(stream.state.messages - 1);
    expect(await cache()).toEqual(expected());
  });

  test("a swap that cannot get the lock in time is retried, and still ends equal to the live cache", async () => {
    const { log, lines } = captureLogger("rebuild");
    const busy = () => lines.some((line) => line.msg === "product_cache is busy; trying again");
    let locked: () => void = () => {};
    const holding = new Promise<void>((resolve) => (locked = resolve));
    // A writer that holds product_cache until the rebuild has given up once.
    const blocker = orders.sql.begin(async (tx) => {
      await tx`lock table orders.product_cache in row exclusive mode`;
      locked();
      await waitFor(busy, { message: "the rebuild to give up once" });
    });
    await holding;
    const result = await rebuild({ log, lockTimeoutMs: 500 });
    await blocker;
    expect(busy()).toBe(true);
    // p3's only message was deleted by the test before: it is kept, not rebuilt.
    expect(result).toMatchObject({ products: truth.size - 1, keptNotInStream: 1 });
    expect(await cache()).toEqual(expected());
  });

  test("a swap whose stream lookups stop answering gives product_cache back within its time limit", async () => {
    const real = jetstream(nc);
    let lookups = 0;
    // NATS goes quiet once the swap holds the lock: its look at the stream never answers.
    const quietOnceLocked = new Proxy(real, {
      get(target, key) {
        if (key !== "streams") return Reflect.get(target, key);
        return {
          get: (name: string) =>
            ++lookups === 1 ? target.streams.get(name) : new Promise(() => {}),
        };
      },
    });
    const started = performance.now();
    await expect(rebuild({ js: quietOnceLocked, lockTimeoutMs: 500 })).rejects.toThrow(
      /took over 500 ms with product_cache locked; nothing was changed/,
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(lookups).toBe(2);
    // Nobody holds product_cache any more, and the next rebuild runs.
    await orders.sql.begin((tx) => tx`lock table orders.product_cache in exclusive mode nowait`);
    expect(await rebuild()).toMatchObject({ products: truth.size - 1, keptNotInStream: 1 });
  });

  test("ends when the stream's newest message was deleted, keeping the newer live row", async () => {
    const { state } = await (await jetstream(nc).streams.get(sales.stream)).info();
    // The newest message is p2's version 3, which Orders applied live: last_seq stays put.
    const jsm = await jetstream(nc).jetstreamManager();
    expect(await jsm.streams.deleteMessage(sales.stream, state.last_seq)).toBe(true);
    const result = await rebuild();
    expect(result).toMatchObject({
      lastSeq: state.last_seq - 1,
      messagesRead: state.messages - 1,
      newerKept: 1,
      keptNotInStream: 1,
    });
    expect(await cache()).toEqual(expected());
  });

  test("--help says what it does; a bad option exits 2", async () => {
    const help = await runScriptProcess("orders/scripts/rebuild-cache.ts", ["--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: bun run orders:rebuild-cache");
    expect(help.stdout).toContain("--prune");
    const bad = await runScriptProcess("orders/scripts/rebuild-cache.ts", ["--batch", "0"], env);
    expect(bad.code).toBe(2);
  });
});

describe("events the live inbox parks", async () => {
  const ownSales = await startFakeSales();
  const ownOrders = await startOrdersUnderTest(ownSales);

  test("are skipped as unreadable by the rebuild, which finishes", async () => {
    const good = productSnapshot();
    await ownSales.publishProduct("created", good);
    await ownSales.publishProduct("created", productSnapshot({ name: "Mug\u0000" }));
    await ownSales.publishProduct(
      "created",
      productSnapshot({ price: { amount: -1, currency: "EUR" } }),
    );
    // Valid events with an extra field jsonb refuses: a number out of its range, a deep nesting.
    const withExtra = (extra: string) =>
      JSON.stringify(productEvent("created", productSnapshot())).replace(
        /}$/,
        `,"extra":${extra}}`,
      );
    await ownSales.publishRaw("sales.product.created.v1", withExtra("1e1000000"));
    await ownSales.publishRaw(
      "sales.product.created.v1",
      withExtra(`${"[".repeat(60_000)}${"]".repeat(60_000)}`),
    );
    const result = await rebuildProductCache({
      sql: ownOrders.sql,
      js: jetstream(nc),
      stream: ownSales.stream,
      handlers: integrationEventHandlers,
      log: silentLogger,
    });
    expect(result).toMatchObject({
      messagesRead: 5,
      eventsHandled: 1,
      skipped: { unreadable: 4, unhandled: 0, failed: 0 },
    });
    const rows = await ownOrders.sql<{ productId: string }[]>`
      select product_id from orders.product_cache`;
    expect(rows.map((row) => row.productId)).toEqual([good.productId]);
  });
});

describe("a stream of its own", async () => {
  const ownSales = await startFakeSales();
  const ownOrders = await startOrdersUnderTest(ownSales);
  const rebuildOwn = (options: Partial<RebuildOptions> = {}) =>
    rebuildProductCache({
      sql: ownOrders.sql,
      js: jetstream(nc),
      stream: ownSales.stream,
      handlers: integrationEventHandlers,
      log: silentLogger,
      ...options,
    });
  const cachedVersions = async () =>
    (
      await ownOrders.sql<{ productId: string; version: number }[]>`
        select product_id, version from orders.product_cache order by product_id`
    ).map((row) => ({ ...row }));

  test("one product's id in upper and lower case is one product, as in Postgres", async () => {
    const product = productSnapshot();
    await ownSales.publishProduct("created", product);
    await ownSales.publishProduct("updated", {
      ...product,
      productId: product.productId.toUpperCase(),
      version: 2,
    });
    const result = await rebuildOwn();
    expect(result).toMatchObject({ products: 1, eventsHandled: 2 });
    expect(await cachedVersions()).toContainEqual({ productId: product.productId, version: 2 });
  });

  test("a stream made anew while the rebuild read it changes nothing, even with --prune", async () => {
    const appliedLive = productSnapshot();
    const before = await cachedVersions();
    await expect(
      rebuildOwn({
        prune: true,
        // NATS lost its store (or `stream:rm`): the stream starts again, and a new product's
        // event, the only message it holds, is applied live.
        beforeSwap: async () => {
          const { config } = await ownSales.jsm.streams.info(ownSales.stream);
          await ownSales.jsm.streams.delete(ownSales.stream);
          await ownSales.jsm.streams.add({ ...config });
          await ownSales.publishProduct("created", appliedLive);
          await ownOrders.sql`
            insert into orders.product_cache (product_id, sku, name, price_amount, price_currency, version)
            values (${appliedLive.productId}, ${appliedLive.sku}, ${appliedLive.name},
                    ${appliedLive.price.amount}, ${appliedLive.price.currency}, 1)
            on conflict do nothing`;
        },
      }),
    ).rejects.toThrow(/was made anew while the rebuild read it; nothing was changed/);
    expect(await cachedVersions()).toEqual(
      [...before, { productId: appliedLive.productId, version: 1 }].sort((a, b) =>
        a.productId < b.productId ? -1 : 1,
      ),
    );
  });
});
