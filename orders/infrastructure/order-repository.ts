import { commitInTime, type Queryable, type RequestDeadline, type Sql } from "shared";
import type { Order, OrderLine } from "../domain/order.ts";

type OrderRow = { id: string; currency: string; totalAmount: number; createdAt: Date };
type LineRow = {
  lineNumber: number;
  productId: string;
  sku: string;
  name: string;
  quantity: number;
  unitPriceAmount: number;
  currency: string;
  lineTotalAmount: number;
};

/**
 * Stores the order and its lines in one transaction, unless the request's time limit passed.
 * With an idempotency key that an order already holds, stores nothing and returns false.
 */
export async function saveOrder(
  sql: Sql,
  order: Order,
  { deadline, idempotencyKey }: { deadline?: RequestDeadline; idempotencyKey?: string } = {},
): Promise<boolean> {
  return sql.begin(async (tx) => {
    const inserted = await tx`
      insert into orders.orders (id, currency, total_amount, created_at, idempotency_key)
      values (
        ${order.id}, ${order.currency}, ${order.total}, ${order.createdAt}, ${idempotencyKey ?? null}
      )
      on conflict (idempotency_key) where idempotency_key is not null do nothing
      returning id`;
    if (inserted.length === 0) return false;
    const lines = order.lines.map((line) => ({
      orderId: order.id,
      lineNumber: line.lineNumber,
      productId: line.productId,
      sku: line.sku,
      name: line.name,
      quantity: line.quantity,
      unitPriceAmount: line.unitPrice.amount,
      currency: line.unitPrice.currency,
      lineTotalAmount: line.lineTotal,
    }));
    await tx`insert into orders.order_lines ${tx(lines)}`;
    commitInTime(deadline);
    return true;
  });
}

export async function findOrderByIdempotencyKey(
  sql: Queryable,
  idempotencyKey: string,
): Promise<Order | undefined> {
  const [order] = await sql<{ id: string }[]>`
    select id from orders.orders where idempotency_key = ${idempotencyKey}`;
  return order ? findOrder(sql, order.id) : undefined;
}

export async function findOrder(sql: Queryable, id: string): Promise<Order | undefined> {
  const [order] = await sql<OrderRow[]>`select * from orders.orders where id = ${id}`;
  if (!order) return undefined;
  const lines = await sql<LineRow[]>`
    select * from orders.order_lines where order_id = ${id} order by line_number`;
  return {
    id: order.id,
    currency: order.currency,
    total: order.totalAmount,
    createdAt: order.createdAt,
    lines: lines.map(
      (line): OrderLine => ({
        lineNumber: line.lineNumber,
        productId: line.productId,
        sku: line.sku,
        name: line.name,
        quantity: line.quantity,
        unitPrice: { amount: line.unitPriceAmount, currency: line.currency },
        lineTotal: line.lineTotalAmount,
      }),
    ),
  };
}
