import { expect, test } from "bun:test";
import { ConflictError, migrate } from "shared";
import { useTestDatabase, waitFor } from "../../shared/testing/test-environment.ts";
import { dispatchDomainEvents } from "../application/product-event-handlers.ts";
import { createProduct, type Product, type ProductChange } from "../domain/product.ts";
import { MIGRATIONS } from "../main.ts";
import { createRunInTransaction } from "./transaction.ts";

const db = await useTestDatabase();
await migrate(db.sql, MIGRATIONS);

let wakeUps = 0;
const inTransaction = createRunInTransaction({
  sql: db.sql,
  newEventId: () => Bun.randomUUIDv7(),
  onEventsCommitted: () => wakeUps++,
});

let skus = 0;
/** A new product and the domain events creating it raises. */
function newProduct(sku = `TX-${++skus}`): ProductChange {
  return createProduct(
    { sku, name: "Mug", description: null, price: { amount: 100, currency: "EUR" } },
    { id: Bun.randomUUIDv7(), now: new Date() },
  );
}

async function rowsFor(product: Product) {
  const [counts] = await db.sql<{ products: number; events: number }[]>`
    select (select count(*) from sales.products where id = ${product.id})::int as products,
           (select count(*) from sales.outbox_messages
            where payload->>'subject' = ${product.id})::int as events`;
  return counts;
}

test("writes do not wait for Postgres, and commit together once they have all succeeded", async () => {
  const { product, events } = newProduct();
  const blocker = await db.sql.reserve();
  await blocker`begin`;
  await blocker`lock table sales.products in exclusive mode`;
  let workDone = false;
  const wakeUpsBefore = wakeUps;
  const committed = inTransaction(async ({ products, eventBus }) => {
    products.add(product);
    dispatchDomainEvents(events, eventBus);
    workDone = true;
    return product.id;
  }, {});
  try {
    // The use case is done while its insert still waits for the lock.
    await waitFor(() => workDone, { message: "the use case to return" });
    expect(await rowsFor(product)).toEqual({ products: 0, events: 0 });
  } finally {
    await blocker`rollback`;
    blocker.release();
  }
  expect(await committed).toBe(product.id);
  expect(await rowsFor(product)).toEqual({ products: 1, events: 1 });
  expect(wakeUps).toBe(wakeUpsBefore + 1);
});

test("a failed write fails the transaction with its own error, even with a read after it", async () => {
  const { product: existing } = newProduct();
  await inTransaction(async ({ products }) => products.add(existing), {});
  const { product: duplicate, events } = newProduct(existing.sku);

  const attempt = inTransaction(async ({ products, eventBus }) => {
    products.add(duplicate);
    dispatchDomainEvents(events, eventBus);
    // Runs in the transaction the failed insert aborted: its own error would hide the cause.
    await products.getForUpdate(existing.id);
    return "committed";
  }, {});

  await expect(attempt).rejects.toBeInstanceOf(ConflictError);
  expect(await rowsFor(duplicate)).toEqual({ products: 0, events: 0 });
});

test("a use case that throws after queueing writes commits none of them and frees its connection", async () => {
  const { product, events } = newProduct();
  // More attempts than the pool has connections: each one must give its connection back.
  for (let attempt = 0; attempt < 12; attempt++) {
    const failing = inTransaction(async ({ products, eventBus }) => {
      products.add(product);
      dispatchDomainEvents(events, eventBus);
      throw new Error("the use case changed its mind");
    }, {});
    await expect(failing).rejects.toThrow("the use case changed its mind");
  }
  expect(await rowsFor(product)).toEqual({ products: 0, events: 0 });
});

test("a transaction whose connection Postgres closes rejects, and the pool goes on working", async () => {
  const { product } = newProduct();
  const blocker = await db.sql.reserve();
  await blocker`begin`;
  await blocker`lock table sales.products in exclusive mode`;
  const cut = inTransaction(async ({ products }) => products.add(product), {});
  try {
    const waiting = await waitFor(
      async () => {
        const [row] = await db.sql<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`;
        return row?.pid;
      },
      { message: "the write waiting for the lock" },
    );
    await db.sql`select pg_terminate_backend(${waiting})`;
    await expect(cut).rejects.toThrow();
  } finally {
    await blocker`rollback`;
    blocker.release();
  }
  // More transactions than the pool has connections, each of which must find a live one.
  for (let attempt = 0; attempt < 12; attempt++) {
    const { product: next } = newProduct();
    await inTransaction(async ({ products }) => products.add(next), {});
    expect(await rowsFor(next)).toEqual({ products: 1, events: 0 });
  }
  expect(await rowsFor(product)).toEqual({ products: 0, events: 0 });
});
