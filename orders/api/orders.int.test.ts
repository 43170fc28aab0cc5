import { expect, test } from "bun:test";
import { waitFor } from "../../shared/testing/test-environment.ts";
import {
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";

const sales = await startFakeSales();
const orders = await startOrdersUnderTest(sales);

test("POST /orders takes a product id in upper case as the same product", async () => {
  const product = productSnapshot();
  await sales.publishProduct("created", product);
  await waitFor(async () => (await orders.app.request(`/products/${product.productId}`)).ok, {
    message: "the product in Orders' cache",
  });
  const response = await orders.app.request("/orders", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ lines: [{ productId: product.productId.toUpperCase(), quantity: 1 }] }),
  });
  expect(response.status).toBe(201);
  const order = (await response.json()) as { lines: { productId: string }[] };
  expect(order.lines.map((line) => line.productId)).toEqual([product.productId]);
});
