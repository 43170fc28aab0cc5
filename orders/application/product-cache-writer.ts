import type { Product } from "../domain/product.ts";

/** Where the integration handlers keep Orders' copy of products. */
export type ProductCacheWriter = {
  /**
   * Stores `product` unless the cache already holds the same or a newer version, so any order
   * of arrival converges to the newest state. The write is sent at once, not awaited: the
   * writes of a batch of messages reach Postgres together, and each is checked before its
   * message counts as applied.
   */
  upsert(product: Product): void;
};
