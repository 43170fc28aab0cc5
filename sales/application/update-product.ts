import { NotFoundError, type Turns } from "shared";
import { type Product, type ProductChanges, updateProduct } from "../domain/product.ts";
import type { RequestContext, RunInTransaction } from "./ports.ts";
import { dispatchDomainEvents } from "./product-event-handlers.ts";

export type UpdateProduct = (
  id: string,
  changes: ProductChanges,
  context?: RequestContext,
) => Promise<Product>;

/** Applies a change to a product; a real change and its `updated` event commit together. */
export function updateProductUseCase(deps: {
  inTransaction: RunInTransaction;
  now: () => Date;
  /**
   * Where changes to one product take turns, rather than each on a connection, waiting for the
   * product's lock: a product locked for long (by a forgotten `psql` session, say) then holds
   * one of the pool's connections, not all of them. Every use case that changes a product takes
   * its turn in the same one.
   */
  productTurns: Turns;
}): UpdateProduct {
  return (id, changes, context = {}) =>
    deps.productTurns(id.toLowerCase(), () => {
      // Answered 503 while it waited for its turn: not run at all.
      context.deadline?.signal.throwIfAborted();
      return deps.inTransaction(async ({ products, eventBus }) => {
        const current = await products.getForUpdate(id);
        if (!current) throw new NotFoundError(`Product ${id} not found`);
        const { product, events } = updateProduct(current, changes, deps.now());
        if (events.length === 0) return current;
        products.save(product);
        dispatchDomainEvents(events, eventBus);
        return product;
      }, context);
    });
}
