import type { RequestDeadline } from "shared";
import { type Order, placeOrder, type RequestedLine } from "../domain/order.ts";
import type { Product } from "../domain/product.ts";

/** `deadline`: the request's time limit; once it has answered 503, the order is not saved. */
export type PlaceOrder = (lines: RequestedLine[], deadline?: RequestDeadline) => Promise<Order>;

/** Prices an order from Orders' own product cache (never asking Sales) and stores it. */
export function placeOrderUseCase(deps: {
  productsByIds: (ids: string[]) => Promise<ReadonlyMap<string, Product>>;
  saveOrder: (order: Order, deadline?: RequestDeadline) => Promise<void>;
  newId: () => string;
  now: () => Date;
}): PlaceOrder {
  return async (lines, deadline) => {
    const products = await deps.productsByIds([...new Set(lines.map((line) => line.productId))]);
    const order = placeOrder({ id: deps.newId(), now: deps.now(), lines, products });
    await deps.saveOrder(order, deadline);
    return order;
  };
}
