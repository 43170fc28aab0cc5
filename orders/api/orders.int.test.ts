import { expect, test } from "bun:test";
import { waitFor } from "shared/testing/test-environment.ts";
import {
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";

const sales = await startFakeSales();
const orders = await startOrdersUnderTest(sales);

async function knownProduct() {
  const product = productSnapshot();
  await sales.publishProduct("created", product);
  await waitFor(async () => (await orders.app.request(`/products/${product.productId}`)).ok, {
    message: "the product in Orders' cache",
  });
  return product;
}

function postOrder(lines: { productId: string; quantity: number }[], idempotencyKey?: string) {
  return orders.app.request("/orders", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(idempotencyKey === undefined ? {} : { "Idempotency-Key": idempotencyKey }),
    },
    body: JSON.stringify({ lines }),
  });
}

async function ordersWithKey(idempotencyKey: string): Promise<number> {
  const [row] = await orders.sql<{ count: number }[]>`
    select count(*)::int as count from orders.orders where idempotency_key = ${idempotencyKey}`;
  return row?.count ?? 0;
}

test("POST /orders takes a product id in upper case as the same product", async () => {
  const product = await knownProduct();
  const response = await orders.app.request("/orders", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ lines: [{ productId: product.productId.toUpperCase(), quantity: 1 }] }),
  });
  expect(response.status).toBe(201);
  const order = (await response.json()) as { lines: { productId: string }[] };
  expect(order.lines.map((line) => line.productId)).toEqual([product.productId]);
});

test("POST /orders repeated with the same Idempotency-Key answers with the first order", async () => {
  const product = await knownProduct();
  const lines = [{ productId: product.productId, quantity: 2 }];
  const key = `order-${crypto.randomUUID()}`;

  const first = await postOrder(lines, key);
  expect(first.status).toBe(201);
  expect(first.headers.get("Idempotent-Replayed")).toBe("false");
  const placed = (await first.json()) as { id: string };

  const again = await postOrder(lines, key);
  expect(again.status).toBe(201);
  expect(again.headers.get("Idempotent-Replayed")).toBe("true");
  expect(again.headers.get("Location")).toBe(`/orders/${placed.id}`);
  expect(await again.json()).toEqual(placed);
  expect(await ordersWithKey(key)).toBe(1);

  const withoutKey = (await (await postOrder(lines)).json()) as { id: string };
  expect(withoutKey.id).not.toBe(placed.id);
});

test("copies of one order racing with the same Idempotency-Key place it once", async () => {
  const product = await knownProduct();
  const lines = [{ productId: product.productId, quantity: 1 }];
  const key = `race-${crypto.randomUUID()}`;
  const responses = await Promise.all(Array.from({ length: 8 }, () => postOrder(lines, key)));
  expect(responses.map((response) => response.status)).toEqual(Array(8).fill(201));
  const ids = await Promise.all(
    responses.map(async (response) => ((await response.json()) as { id: string }).id),
  );
  expect(new Set(ids).size).toBe(1);
  expect(responses.filter((r) => r.headers.get("Idempotent-Replayed") === "false")).toHaveLength(1);
  expect(await ordersWithKey(key)).toBe(1);
});

test("an Idempotency-Key used for other lines is refused with 422, and places nothing", async () => {
  const product = await knownProduct();
  const key = `other-${crypto.randomUUID()}`;
  const first = (await (
    await postOrder([{ productId: product.productId, quantity: 1 }], key)
  ).json()) as {
    id: string;
  };
  const other = await postOrder([{ productId: product.productId, quantity: 3 }], key);
  expect(other.status).toBe(422);
  expect(await other.json()).toMatchObject({
    error: {
      code: "unprocessable",
      issues: [
        { path: "Idempotency-Key", message: `already placed order ${first.id}, with other lines` },
      ],
    },
  });
  expect(await ordersWithKey(key)).toBe(1);
});

test("an Idempotency-Key that is empty, too long or not visible ASCII is refused with 400", async () => {
  const product = await knownProduct();
  const lines = [{ productId: product.productId, quantity: 1 }];
  for (const key of ["", "x".repeat(256), "a b", "caf\u00e9"]) {
    const response = await postOrder(lines, key);
    expect(response.status).toBe(400);
  }
});
