import { describe, expect, test } from "bun:test";
import { waitFor } from "shared/testing/test-environment.ts";
import { startSalesUnderTest } from "../testing/sales-under-test.ts";

const TIME_LIMIT_MS = 500;
const sales = await startSalesUnderTest({}, { requestTimeoutMs: TIME_LIMIT_MS });

let skuCounter = 0;
const nextSku = () => `SLOW-${Date.now()}-${++skuCounter}`;

async function request(method: string, path: string, body: unknown) {
  return sales.app.request(path, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Holds an exclusive lock on `sales.products` in another session until `release()`. */
async function lockProducts() {
  const session = await sales.database.sql.reserve();
  await session`begin`;
  await session`lock table sales.products in exclusive mode`;
  return {
    release: async () => {
      await session`rollback`;
      session.release();
    },
  };
}

async function writesWaitingForALock() {
  const [{ waiting }] = (await sales.database.sql`
    select count(*)::int as waiting from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock'`) as [{ waiting: number }];
  return waiting;
}

async function waitUntilAWriteWaitsForTheLock() {
  await waitFor(async () => (await writesWaitingForALock()) > 0, {
    message: "a write waiting for the lock on sales.products",
  });
}

/**
 * The write the lock held back has its own lock on the table once it runs, so taking the
 * exclusive lock again waits until that write has committed or rolled back.
 */
async function waitUntilTheHeldBackWriteEnds() {
  await sales.database.sql.begin((tx) => tx`lock table sales.products in exclusive mode`);
}

async function outboxRowCount() {
  const [{ count }] = (await sales.sql`
    select count(*)::int as count from sales.outbox_messages`) as [{ count: number }];
  return count;
}

/** A request held back past the time limit: its 503, after which the lock is released. */
async function heldBackPastTheTimeLimit(send: () => Promise<Response>) {
  const lock = await lockProducts();
  try {
    const answer = send();
    await waitUntilAWriteWaitsForTheLock();
    const response = await answer;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      error: { code: "unavailable", message: expect.stringContaining("try again") },
    });
  } finally {
    await lock.release();
  }
  await waitUntilTheHeldBackWriteEnds();
}

describe("a write answered 503 for the time limit", () => {
  test("POST /products commits neither product nor outbox row, and a retry creates it", async () => {
    const body = { sku: nextSku(), name: "Mug", price: { amount: 1299, currency: "EUR" } };
    const rowsBefore = await outboxRowCount();

    await heldBackPastTheTimeLimit(() => request("POST", "/products", body));

    const products = await sales.sql`select id from sales.products where sku = ${body.sku}`;
    expect(products).toHaveLength(0);
    expect(await outboxRowCount()).toBe(rowsBefore);
    const retry = await request("POST", "/products", body);
    expect(retry.status).toBe(201);
    expect(await outboxRowCount()).toBe(rowsBefore + 1);
  });

  test("PATCH /products/:id leaves the product as it was, and a retry applies it once", async () => {
    const created = await request("POST", "/products", {
      sku: nextSku(),
      name: "Mug",
      price: { amount: 1299, currency: "EUR" },
    });
    const { id } = (await created.json()) as { id: string };
    const change = { price: { amount: 1499, currency: "EUR" } };
    const rowsBefore = await outboxRowCount();

    await heldBackPastTheTimeLimit(() => request("PATCH", `/products/${id}`, change));

    const current = await sales.app.request(`/products/${id}`);
    expect(await current.json()).toMatchObject({ version: 1, price: { amount: 1299 } });
    expect(await outboxRowCount()).toBe(rowsBefore);
    const retry = await request("PATCH", `/products/${id}`, change);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toMatchObject({ version: 2, price: { amount: 1499 } });
  });

  test("a write still waiting for a lock after its 503 gives up, so its connection is free again", async () => {
    const lock = await lockProducts();
    try {
      const answer = request("POST", "/products", {
        sku: nextSku(),
        name: "Mug",
        price: { amount: 1299, currency: "EUR" },
      });
      await waitUntilAWriteWaitsForTheLock();
      expect((await answer).status).toBe(503);
      await waitFor(async () => (await writesWaitingForALock()) === 0, {
        message: "the held-back write to stop waiting while the lock is still held",
      });
    } finally {
      await lock.release();
    }
  });

  test("changes to a product locked for long wait their turn without a connection each", async () => {
    const created = await request("POST", "/products", {
      sku: nextSku(),
      name: "Mug",
      price: { amount: 1299, currency: "EUR" },
    });
    const { id } = (await created.json()) as { id: string };
    const session = await sales.database.sql.reserve();
    await session`begin`;
    await session`select 1 from sales.products where id = ${id} for update`;
    try {
      // More than the pool's 20 connections.
      const changes = Array.from({ length: 25 }, (_, index) =>
        request("PATCH", `/products/${id}`, { price: { amount: 1300 + index, currency: "EUR" } }),
      );
      await waitUntilAWriteWaitsForTheLock();
      expect(await writesWaitingForALock()).toBeLessThanOrEqual(1);
      expect((await sales.app.request(`/products/${id}`)).status).toBe(200);
      const statuses = new Set((await Promise.all(changes)).map((answer) => answer.status));
      expect(statuses).toEqual(new Set([503]));
    } finally {
      await session`rollback`;
      session.release();
    }
  });
});
