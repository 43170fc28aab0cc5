import type { ProductSnapshot } from "contracts";
import type { Product } from "../domain/product.ts";

/** The anti-corruption layer: Sales' wire format in, Orders' own model out. */
export function toProduct(snapshot: ProductSnapshot): Product {
  return {
    id: snapshot.productId,
    sku: snapshot.sku,
    name: snapshot.name,
    price: { amount: snapshot.price.amount, currency: snapshot.price.currency },
    version: snapshot.version,
  };
}
