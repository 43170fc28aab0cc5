import { type Issue, UnprocessableError } from "shared/errors";
import type { Money, Product } from "./product.ts";

export type OrderLine = {
  lineNumber: number;
  productId: string;
  sku: string;
  name: string;
  quantity: number;
  /** The price the product had in the cache when the order was placed. */
  unitPrice: Money;
  lineTotal: number;
};

export type Order = {
  id: string;
  currency: string;
  total: number;
  lines: OrderLine[];
  createdAt: Date;
};

export type RequestedLine = { productId: string; quantity: number };

export const MAX_QUANTITY = 10_000;

/**
 * Prices an order from the products Orders knows. Every product must be known and every line
 * in the same currency; amounts stay integers in minor units.
 */
export function placeOrder({
  id,
  now,
  lines,
  products,
}: {
  id: string;
  now: Date;
  lines: RequestedLine[];
  products: ReadonlyMap<string, Product>;
}): Order {
  const issues: Issue[] = [];
  const priced: OrderLine[] = [];
  lines.forEach((line, index) => {
    if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_QUANTITY) {
      issues.push({
        path: `lines.${index}.quantity`,
        message: `must be a whole number from 1 to ${MAX_QUANTITY}`,
      });
    }
    const product = products.get(line.productId);
    if (!product) {
      issues.push({
        path: `lines.${index}.productId`,
        message: `product ${line.productId} is not known`,
      });
      return;
    }
    priced.push({
      lineNumber: index + 1,
      productId: product.id,
      sku: product.sku,
      name: product.name,
      quantity: line.quantity,
      unitPrice: product.price,
      lineTotal: product.price.amount * line.quantity,
    });
  });
  if (lines.length === 0)
    issues.push({ path: "lines", message: "an order needs at least one line" });
  if (issues.length > 0) throw new UnprocessableError("The order cannot be placed", issues);

  const currencies = new Set(priced.map((line) => line.unitPrice.currency));
  if (currencies.size > 1) {
    throw new UnprocessableError("The order mixes currencies", [
      {
        path: "lines",
        message: `all lines must share one currency, got ${[...currencies].join(", ")}`,
      },
    ]);
  }
  const total = priced.reduce((sum, line) => sum + line.lineTotal, 0);
  if (!Number.isSafeInteger(total)) {
    throw new UnprocessableError("The order total is too large", [
      { path: "lines", message: "the total exceeds what can be represented exactly" },
    ]);
  }
  return { id, currency: [...currencies][0] ?? "", total, lines: priced, createdAt: now };
}

/** True when `order` has exactly the requested lines, in the same order: a repeated request. */
export function isOrderFor(order: Order, lines: RequestedLine[]): boolean {
  return (
    order.lines.length === lines.length &&
    order.lines.every(
      (line, index) =>
        line.productId === lines[index]?.productId && line.quantity === lines[index]?.quantity,
    )
  );
}
