import { Hono } from "hono";
import {
  describeRoute,
  ErrorResponse,
  IdParam,
  NotFoundError,
  PageQuery,
  pathParams,
  queryParams,
  type Sql,
} from "shared";
import * as v from "valibot";
import {
  type CachedProduct,
  findCachedProduct,
  listCachedProducts,
} from "../infrastructure/product-cache.ts";

/** A cached product as the API shows it, with the Sales version it reflects. */
export const CachedProductResponse = v.object({
  id: v.pipe(v.string(), v.uuid()),
  sku: v.string(),
  name: v.string(),
  price: v.object({
    amount: v.pipe(v.number(), v.integer(), v.description("In minor units (cents)")),
    currency: v.pipe(v.string(), v.description("ISO 4217")),
  }),
  version: v.pipe(v.number(), v.integer(), v.description("The Sales version this copy reflects")),
  updatedAt: v.pipe(v.string(), v.isoTimestamp()),
});

export const CachedProductPage = v.object({
  items: v.array(CachedProductResponse),
  next: v.pipe(v.nullable(v.string()), v.description("Pass as `after` for the next page")),
});

export function cachedProductJson(
  product: CachedProduct,
): v.InferOutput<typeof CachedProductResponse> {
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
    .get(
      "/:id",
      describeRoute({
        summary: "Orders' copy of a product",
        tags: ["products"],
        responses: {
          200: { description: "The cached product", schema: CachedProductResponse },
          404: { description: "Not known to Orders (yet)", schema: ErrorResponse },
        },
        example: { param: { id: "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77" } },
      }),
      pathParams(IdParam),
      async (c) => {
        const { id } = c.req.valid("param");
        const product = await findCachedProduct(sql, id);
        if (!product) throw new NotFoundError(`Product ${id} is not known to Orders (yet)`);
        return c.json(cachedProductJson(product), 200);
      },
    )
    .get(
      "/",
      describeRoute({
        summary: "Orders' copy of the products, by id, a page at a time",
        description:
          "A listing, not a change feed: a product that reaches the cache while you page can land before your `after` and not be shown.",
        tags: ["products"],
        responses: { 200: { description: "One page", schema: CachedProductPage } },
        example: { query: { limit: "20" } },
      }),
      queryParams(PageQuery),
      async (c) => {
        const page = await listCachedProducts(sql, c.req.valid("query"));
        return c.json({ items: page.items.map(cachedProductJson), next: page.next }, 200);
      },
    );
}
