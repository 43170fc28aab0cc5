import { Hono } from "hono";
import {
  describeRoute,
  ErrorResponse,
  IdempotencyKeyHeader,
  IdParam,
  jsonBody,
  NotFoundError,
  pathParams,
  requestHeaders,
  type Sql,
} from "shared";
import * as v from "valibot";
import type { PlaceOrder } from "../application/place-order.ts";
import { MAX_QUANTITY, type Order } from "../domain/order.ts";
import { findOrder } from "../infrastructure/order-repository.ts";

export const PlaceOrderBody = v.strictObject({
  lines: v.pipe(
    v.array(
      v.strictObject({
        // Lower case, as Postgres writes a uuid: the order's lines are matched by this text.
        productId: v.pipe(v.string(), v.uuid("must be a product id"), v.toLowerCase()),
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

const Money = v.object({
  amount: v.pipe(v.number(), v.integer(), v.description("In minor units (cents)")),
  currency: v.pipe(v.string(), v.description("ISO 4217")),
});

/** An order as the API shows it: each line keeps the price it was sold at. */
export const OrderResponse = v.object({
  id: v.pipe(v.string(), v.uuid()),
  currency: v.string(),
  total: v.pipe(v.number(), v.integer(), v.description("In minor units of `currency`")),
  createdAt: v.pipe(v.string(), v.isoTimestamp()),
  lines: v.array(
    v.object({
      lineNumber: v.pipe(v.number(), v.integer()),
      productId: v.pipe(v.string(), v.uuid()),
      sku: v.string(),
      name: v.string(),
      quantity: v.pipe(v.number(), v.integer()),
      unitPrice: Money,
      lineTotal: v.pipe(v.number(), v.integer()),
    }),
  ),
});

export function orderJson(order: Order): v.InferOutput<typeof OrderResponse> {
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
    .post(
      "/",
      describeRoute({
        summary: "Place an order, priced from Orders' copy of the products",
        description:
          "With an `Idempotency-Key` header, the same request again (e.g. after a 503 `outcome_unknown`) answers with the order the first one placed, and header `Idempotent-Replayed: true`, instead of placing a second one.",
        tags: ["orders"],
        responses: {
          201: { description: "The order", schema: OrderResponse },
          422: {
            description:
              "A product is not known to Orders (yet), currencies differ, or the Idempotency-Key placed an order with other lines",
            schema: ErrorResponse,
          },
        },
        example: {
          json: { lines: [{ productId: "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77", quantity: 2 }] },
        },
      }),
      requestHeaders(IdempotencyKeyHeader),
      jsonBody(PlaceOrderBody),
      async (c) => {
        const { order, replayed } = await placeOrder(c.req.valid("json").lines, {
          deadline: c.get("deadline"),
          idempotencyKey: c.req.valid("header")["idempotency-key"],
        });
        // A repeated request gets the same answer, marked as such (as Stripe's API does).
        const headers = {
          Location: `/orders/${order.id}`,
          "Idempotent-Replayed": String(replayed),
        };
        return c.json(orderJson(order), 201, headers);
      },
    )
    .get(
      "/:id",
      describeRoute({
        summary: "One order",
        tags: ["orders"],
        responses: {
          200: { description: "The order", schema: OrderResponse },
          404: { description: "No order with this id", schema: ErrorResponse },
        },
        example: { param: { id: "0193a5c2-7a10-7cc1-8a5e-4b0c2f9e1a01" } },
      }),
      pathParams(IdParam),
      async (c) => {
        const { id } = c.req.valid("param");
        const order = await findOrder(sql, id);
        if (!order) throw new NotFoundError(`Order ${id} not found`);
        return c.json(orderJson(order), 200);
      },
    );
}
