import type { RequestDeadline } from "shared";
import type { Product } from "../domain/product.ts";
import type { EventBus } from "./event-bus.ts";

/** Products as the use cases see them, inside one transaction. */
export type ProductRepository = {
  add(product: Product): Promise<void>;
  /** The product, locked until the transaction ends; undefined when there is none. */
  getForUpdate(id: string): Promise<Product | undefined>;
  save(product: Product): Promise<void>;
};

/** What a use case can touch within one transaction. */
export type TransactionScope = { products: ProductRepository; eventBus: EventBus };

/** Context of the request that started a use case: its trace, carried onto the events it raises. */
export type RequestContext = {
  traceparent?: string | undefined;
  /** The request's time limit: once it has answered 503, the work must not commit. */
  deadline?: RequestDeadline | undefined;
};

/** Runs `work` in one transaction: all its writes commit together, or none does. */
export type RunInTransaction = <T>(
  work: (scope: TransactionScope) => Promise<T>,
  context: RequestContext,
) => Promise<T>;
