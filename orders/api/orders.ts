import { Hono } from "hono";
import { jsonBody, NotFoundError, pathParams, type Sql } from "shared";
import * as v from "valibot";
import type { PlaceOrder } from "../application/place-order.ts";
import { MAX_QUANTITY, type Order } from "../domain/order.ts";
import { findOrder } from "../infrastructure/order-repository.ts";

export const PlaceOrderBody = v.strictObject({
  lines: v.pipe(
    v.array(
      v.strictObject({
        productId: v.pipe(v.string(), v.uuid("must be a product id")),
        quantity: v.pipe(
          v.number(),
          v.integer("must be a whole number"),
          v.minValue(1),
          v.maxValue(MAX_QUANTITY),
        ),
      }),
    ),
    v.minLength(1, "an order needs at least one line"),
    v.maxLength(100, "an order has at most 100 lines"),
  ),
});

export const OrderIdParam = v.object({ id: v.pipe(v.string(), v.uuid("must be a UUID")) });

export function orderJson(order: Order) {
  return {
    id: order.id,
    currency: order.currency,
    total: order.total,
    createdAt: order.createdAt.toISOString(),
    lines: order.lines,
  };
}

/** `POST /orders` (priced from the cache) and `GET /orders/:id`. */
export function createOrdersApi({ sql, placeOrder }: { sql: Sql; placeOrder: PlaceOrder }) {
  return new Hono()
    .post("/", jsonBody(PlaceOrderBody), async (c) => {
      const order = await placeOrder(c.req.valid("json").lines);
      return c.json(orderJson(order), 201, { Location: `/orders/${order.id}` });
    })
    .get("/:id", pathParams(OrderIdParam), async (c) => {
      const { id } = c.req.valid("param");
      const order = await findOrder(sql, id);
      if (!order) throw new NotFoundError(`Order ${id} not found`);
      return c.json(orderJson(order), 200);
    });
}
