import { createProduct, type NewProduct, type Product } from "../domain/product.ts";
import type { RequestContext, RunInTransaction } from "./ports.ts";
import { dispatchDomainEvents } from "./product-event-handlers.ts";

export type CreateProduct = (input: NewProduct, context?: RequestContext) => Promise<Product>;

/** Creates a product and its `created` event in one transaction. */
export function createProductUseCase(deps: {
  inTransaction: RunInTransaction;
  newId: () => string;
  now: () => Date;
}): CreateProduct {
  return (input, context = {}) =>
    deps.inTransaction(async ({ products, eventBus }) => {
      const { product, events } = createProduct(input, { id: deps.newId(), now: deps.now() });
      products.add(product);
      dispatchDomainEvents(events, eventBus);
      return product;
    }, context);
}
