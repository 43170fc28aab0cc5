import { type RequestDeadline, UnprocessableError } from "shared";
import { isOrderFor, type Order, placeOrder, type RequestedLine } from "../domain/order.ts";
import type { Product } from "../domain/product.ts";

export type PlaceOrderOptions = {
  /** The request's time limit: once it has answered 503, the order is not saved. */
  deadline?: RequestDeadline;
  /** The client's `Idempotency-Key`: the same key again gets the order it placed. */
  idempotencyKey?: string;
};

/** The order, and whether an earlier request with the same idempotency key placed it. */
export type PlacedOrder = { order: Order; replayed: boolean };

export type PlaceOrder = (
  lines: RequestedLine[],
  options?: PlaceOrderOptions,
) => Promise<PlacedOrder>;

/** Prices an order from Orders' own product cache (never asking Sales) and stores it. */
export function placeOrderUseCase(deps: {
  productsByIds: (ids: string[]) => Promise<ReadonlyMap<string, Product>>;
  /** Stores the order; false when an order already holds its idempotency key. */
  saveOrder: (order: Order, options: PlaceOrderOptions) => Promise<boolean>;
  orderByIdempotencyKey: (idempotencyKey: string) => Promise<Order | undefined>;
  newId: () => string;
  now: () => Date;
}): PlaceOrder {
  async function placedEarlier(lines: RequestedLine[], idempotencyKey: string) {
    const order = await deps.orderByIdempotencyKey(idempotencyKey);
    if (order && !isOrderFor(order, lines)) {
      throw new UnprocessableError("The Idempotency-Key was used for a different order", [
        { path: "Idempotency-Key", message: `already placed order ${order.id}, with other lines` },
      ]);
    }
    return order;
  }

  return async (lines, options = {}) => {
    const { idempotencyKey } = options;
    if (idempotencyKey !== undefined) {
      const earlier = await placedEarlier(lines, idempotencyKey);
      if (earlier) return { order: earlier, replayed: true };
    }
    const products = await deps.productsByIds([...new Set(lines.map((line) => line.productId))]);
    const order = placeOrder({ id: deps.newId(), now: deps.now(), lines, products });
    if (await deps.saveOrder(order, options)) return { order, replayed: false };
    // A copy of this request, with the same key, committed between the look-up and the insert.
    const earlier =
      idempotencyKey === undefined ? undefined : await placedEarlier(lines, idempotencyKey);
    if (!earlier) throw new Error("The order was neither saved nor found by its idempotency key");
    return { order: earlier, replayed: true };
  };
}
