import { Hono } from "hono";
import { NotFoundError, pathParams, queryParams, type Sql } from "shared";
import * as v from "valibot";
import {
  type CachedProduct,
  findCachedProduct,
  listCachedProducts,
} from "../infrastructure/product-cache.ts";

export const ProductIdParam = v.object({ id: v.pipe(v.string(), v.uuid("must be a UUID")) });

export const ListProductsQuery = v.object({
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,3}$/, "must be 1-100"),
      v.transform(Number),
      v.minValue(1),
      v.maxValue(100),
    ),
    "50",
  ),
  after: v.optional(v.pipe(v.string(), v.uuid("must be a product id"))),
});

/** A cached product as the API shows it, with the Sales version it reflects. */
export function cachedProductJson(product: CachedProduct) {
  return {
    id: product.id,
    sku: product.sku,
    name: product.name,
    price: product.price,
    version: product.version,
    updatedAt: product.updatedAt.toISOString(),
  };
}

/** `GET /products/:id` and `GET /products`: Orders' cached view, 404 until an event arrived. */
export function createProductsApi({ sql }: { sql: Sql }) {
  return new Hono()
    .get("/:id", pathParams(ProductIdParam), async (c) => {
      const { id } = c.req.valid("param");
      const product = await findCachedProduct(sql, id);
      if (!product) throw new NotFoundError(`Product ${id} is not known to Orders (yet)`);
      return c.json(cachedProductJson(product), 200);
    })
    .get("/", queryParams(ListProductsQuery), async (c) => {
      const page = await listCachedProducts(sql, c.req.valid("query"));
      return c.json({ items: page.items.map(cachedProductJson), next: page.next }, 200);
    });
}
