import type { PipelinedTransaction, Queryable } from "shared";
import type { ProductCacheWriter } from "../application/product-cache-writer.ts";
import type { Product } from "../domain/product.ts";

type CacheRow = {
  productId: string;
  sku: string;
  name: string;
  priceAmount: number;
  priceCurrency: string;
  version: number;
  updatedAt: Date;
};

export type CachedProduct = Product & { updatedAt: Date };

const toCachedProduct = (row: CacheRow): CachedProduct => ({
  id: row.productId,
  sku: row.sku,
  name: row.name,
  price: { amount: row.priceAmount, currency: row.priceCurrency },
  version: row.version,
  updatedAt: row.updatedAt,
});

/** `orders.product_cache`, written inside the caller's transaction, its writes pipelined. */
export function createProductCacheWriter({
  sql: tx,
  write,
}: PipelinedTransaction): ProductCacheWriter {
  return {
    upsert(product) {
      write(tx`
        insert into orders.product_cache
          (product_id, sku, name, price_amount, price_currency, version, updated_at)
        values (${product.id}, ${product.sku}, ${product.name}, ${product.price.amount},
                ${product.price.currency}, ${product.version}, clock_timestamp())
        on conflict (product_id) do update
          set sku = excluded.sku, name = excluded.name, price_amount = excluded.price_amount,
              price_currency = excluded.price_currency, version = excluded.version,
              updated_at = excluded.updated_at
          where orders.product_cache.version < excluded.version`);
    },
  };
}

export async function findCachedProduct(
  sql: Queryable,
  id: string,
): Promise<CachedProduct | undefined> {
  const [row] = await sql<CacheRow[]>`select * from orders.product_cache where product_id = ${id}`;
  return row && toCachedProduct(row);
}

export async function cachedProductsByIds(
  sql: Queryable,
  ids: string[],
): Promise<Map<string, CachedProduct>> {
  const rows = await sql<
    CacheRow[]
  >`select * from orders.product_cache where product_id = any(${ids}::uuid[])`;
  return new Map(rows.map((row) => [row.productId, toCachedProduct(row)]));
}

/** One page of cached products by id; pass the last id to get the next. */
export async function listCachedProducts(
  sql: Queryable,
  { limit, after }: { limit: number; after?: string | undefined },
): Promise<{ items: CachedProduct[]; next: string | null }> {
  const rows = await sql<CacheRow[]>`
    select * from orders.product_cache
    ${after ? sql`where product_id > ${after}` : sql``}
    order by product_id
    limit ${limit + 1}`;
  const items = rows.slice(0, limit).map(toCachedProduct);
  return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
}
