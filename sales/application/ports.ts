import type { RequestDeadline } from "shared";
import type { Product } from "../domain/product.ts";
import type { EventBus } from "./event-bus.ts";

/**
 * Products as the use cases see them, inside one transaction. Writes do not wait for Postgres:
 * they go out together, and the transaction checks them before it commits; a failed write
 * fails the whole transaction (a duplicate sku as `ConflictError`).
 */
export type ProductRepository = {
  /** With the client's idempotency key, which no other product may hold (`ConflictError`). */
  add(product: Product, idempotencyKey?: string): void;
  /** The product created with this idempotency key, if any. */
  findByIdempotencyKey(idempotencyKey: string): Promise<Product | undefined>;
  /** The product, locked until the transaction ends; undefined when there is none. */
  getForUpdate(id: string): Promise<Product | undefined>;
  save(product: Product): void;
};

/** What a use case can touch within one transaction. */
export type TransactionScope = { products: ProductRepository; eventBus: EventBus };

/** Context of the request that started a use case: its trace, carried onto the events it raises. */
export type RequestContext = {
  traceparent?: string | undefined;
  /** The request's time limit: once it has answered 503, the work must not commit. */
  deadline?: RequestDeadline | undefined;
};

/**
 * Runs `work` in one transaction: all its writes commit together, or none does. Resolves with
 * what `work` returned once the transaction has committed; rejects if any write failed. Other
 * requests' work may share the transaction (group commit), never their failures.
 */
export type RunInTransaction = <T>(
  work: (scope: TransactionScope) => Promise<T>,
  context: RequestContext,
) => Promise<T>;
