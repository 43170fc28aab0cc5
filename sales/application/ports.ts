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
  add(product: Product, idempotency?: Idempotency): void;
  /** The product created with this idempotency key, and the request that created it. */
  findByIdempotencyKey(key: string): Promise<{ product: Product; request: string } | undefined>;
  /** The product, locked until the transaction ends; undefined when there is none. */
  getForUpdate(id: string): Promise<Product | undefined>;
  save(product: Product): void;
};

/** The client's `Idempotency-Key`, and its request in a form to compare it with a repeat. */
export type Idempotency = { key: string; request: string };

/** What a use case can touch within one transaction. */
export type TransactionScope = { products: ProductRepository; eventBus: EventBus };

/** Context of the request that started a use case: its trace, carried onto the events it raises. */
export type RequestContext = {
  traceparent?: string | undefined;
  /** The request's time limit: once it has answered 503, the work must not commit. */
  deadline?: RequestDeadline | undefined;
};

export type TransactionOptions = {
  /**
   * The work only writes (it locks nothing it reads), so other requests' work may share its
   * transaction (group commit), never their failures. Off by default.
   */
  shared?: boolean;
};

/**
 * Runs `work` in one transaction: all its writes commit together, or none does. Resolves with
 * what `work` returned once the transaction has committed; rejects if any write failed.
 */
export type RunInTransaction = <T>(
  work: (scope: TransactionScope) => Promise<T>,
  context: RequestContext,
  options?: TransactionOptions,
) => Promise<T>;
