import { expect, test } from "bun:test";
import { waitFor } from "shared/testing/test-environment.ts";
import {
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";

const TIME_LIMIT_MS = 500;
const sales = await startFakeSales();
const orders = await startOrdersUnderTest(sales, {
  overrides: { requestTimeoutMs: TIME_LIMIT_MS },
});

async function orderCount() {
  const [row] = await orders.sql<{ count: number }[]>`
    select count(*)::int as count from orders.orders`;
  return row?.count ?? 0;
}

test("POST /orders answered 503 for the time limit saves no order, and a retry saves one", async () => {
  const product = productSnapshot();
  await sales.publishProduct("created", product);
  await waitFor(async () => (await orders.app.request(`/products/${product.productId}`)).ok, {
    message: "the product in Orders' cache",
  });
  const placeOrder = () =>
    orders.app.request("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lines: [{ productId: product.productId, quantity: 2 }] }),
    });
  const before = await orderCount();

  const session = await orders.database.sql.reserve();
  try {
    await session`begin`;
    await session`lock table orders.orders in exclusive mode`;
    const answer = placeOrder();
    await waitFor(
      async () => {
        const [row] = await orders.database.sql<{ waiting: number }[]>`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`;
        return (row?.waiting ?? 0) > 0;
      },
      { message: "the order's insert waiting for the lock" },
    );
    const response = await answer;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      error: { code: "unavailable", message: expect.stringContaining("try again") },
    });
  } finally {
    await session`rollback`;
    session.release();
  }
  // The held-back insert locks the table too: taking the lock again waits until it has ended.
  await orders.database.sql.begin((tx) => tx`lock table orders.orders in exclusive mode`);

  expect(await orderCount()).toBe(before);
  const retry = await placeOrder();
  expect(retry.status).toBe(201);
  expect(await orderCount()).toBe(before + 1);
});
