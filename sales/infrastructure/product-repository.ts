import type { PipelinedTransaction } from "shared";
import { ConflictError, isUniqueViolation, type Queryable } from "shared";
import type { ProductRepository } from "../application/ports.ts";
import type { Product } from "../domain/product.ts";

type ProductRow = {
  id: string;
  sku: string;
  name: string;
  description: string | null;
  priceAmount: number;
  priceCurrency: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
};

const toProduct = (row: ProductRow): Product => ({
  id: row.id,
  sku: row.sku,
  name: row.name,
  description: row.description,
  price: { amount: row.priceAmount, currency: row.priceCurrency },
  version: row.version,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

/**
 * `sales.products` for the use cases, bound to one transaction; writes go out pipelined (see
 * `PipelinedTransaction`). Columns are spelled out rather than built from an object with
 * `tx(row)`: on the write path that helper cost about 27 µs of CPU per insert under full-speed
 * `POST /products` (measured: 763–768 against 791–795 µs).
 */
export function createProductRepository({
  sql: tx,
  write,
}: PipelinedTransaction): ProductRepository {
  return {
    add(product, idempotency) {
      write(
        tx`
          insert into sales.products
            (id, sku, name, description, price_amount, price_currency, version, created_at,
             updated_at, idempotency_key, idempotency_request)
          values (${product.id}, ${product.sku}, ${product.name}, ${product.description},
                  ${product.price.amount}, ${product.price.currency}, ${product.version},
                  ${product.createdAt}, ${product.updatedAt}, ${idempotency?.key ?? null},
                  ${idempotency?.request ?? null})`,
        (error) => {
          if (isUniqueViolation(error, "products_sku_unique")) {
            return new ConflictError(`A product with sku ${product.sku} already exists`, {
              cause: error,
            });
          }
          if (isUniqueViolation(error, "products_idempotency_key")) {
            return new ConflictError("Another product was created with this Idempotency-Key", {
              cause: error,
            });
          }
          return error;
        },
      );
    },
    async findByIdempotencyKey(key) {
      const [row] = await tx<(ProductRow & { idempotencyRequest: string })[]>`
        select * from sales.products where idempotency_key = ${key}`;
      return row && { product: toProduct(row), request: row.idempotencyRequest };
    },
    async getForUpdate(id) {
      const [row] = await tx<
        ProductRow[]
      >`select * from sales.products where id = ${id} for update`;
      return row && toProduct(row);
    },
    save(product) {
      write(tx`
        update sales.products
        set name = ${product.name}, description = ${product.description},
            price_amount = ${product.price.amount}, price_currency = ${product.price.currency},
            version = ${product.version}, updated_at = ${product.updatedAt}
        where id = ${product.id}`);
    },
  };
}

export async function findProduct(sql: Queryable, id: string): Promise<Product | undefined> {
  const [row] = await sql<ProductRow[]>`select * from sales.products where id = ${id}`;
  return row && toProduct(row);
}

/** One page of products in creation order (ids are UUID v7); pass the last id to get the next. */
export async function listProducts(
  sql: Queryable,
  { limit, after }: { limit: number; after?: string | undefined },
): Promise<{ items: Product[]; next: string | null }> {
  const rows = await sql<ProductRow[]>`
    select * from sales.products
    ${after ? sql`where id > ${after}` : sql``}
    order by id
    limit ${limit + 1}`;
  const items = rows.slice(0, limit).map(toProduct);
  return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
}
