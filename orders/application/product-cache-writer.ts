import type { Product } from "../domain/product.ts";

/** Where the integration handlers keep Orders' copy of products. */
export type ProductCacheWriter = {
  /**
   * Stores `product` unless the cache already holds the same or a newer version. Resolves
   * true when it changed the cache. Any order of arrival converges to the newest state.
   */
  upsert(product: Product): Promise<boolean>;
};
