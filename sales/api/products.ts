import { Hono } from "hono";
import { jsonBody, NotFoundError, pathParams, queryParams, type Sql } from "shared";
import * as v from "valibot";
import type { CreateProduct } from "../application/create-product.ts";
import type { UpdateProduct } from "../application/update-product.ts";
import { type Product, ProductRules } from "../domain/product.ts";
import { findProduct, listProducts } from "../infrastructure/product-repository.ts";

export const CreateProductBody = v.strictObject({
  sku: ProductRules.sku,
  name: ProductRules.name,
  description: v.optional(ProductRules.description, null),
  price: ProductRules.price,
});

export const UpdateProductBody = v.strictObject({
  name: v.optional(ProductRules.name),
  description: v.optional(ProductRules.description),
  price: v.optional(ProductRules.price),
});

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

/** The product as the API shows it. */
export function productJson(product: Product) {
  return {
    id: product.id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    price: product.price,
    version: product.version,
    createdAt: product.createdAt.toISOString(),
    updatedAt: product.updatedAt.toISOString(),
  };
}

/** `POST /products`, `PATCH /products/:id`, `GET /products/:id`, `GET /products`. */
export function createProductsApi({
  sql,
  createProduct,
  updateProduct,
}: {
  sql: Sql;
  createProduct: CreateProduct;
  updateProduct: UpdateProduct;
}) {
  return new Hono()
    .post("/", jsonBody(CreateProductBody), async (c) => {
      const product = await createProduct(c.req.valid("json"), {
        traceparent: c.req.header("traceparent"),
      });
      return c.json(productJson(product), 201, { Location: `/products/${product.id}` });
    })
    .patch("/:id", pathParams(ProductIdParam), jsonBody(UpdateProductBody), async (c) => {
      const { id } = c.req.valid("param");
      const product = await updateProduct(id, c.req.valid("json"), {
        traceparent: c.req.header("traceparent"),
      });
      return c.json(productJson(product), 200);
    })
    .get("/:id", pathParams(ProductIdParam), async (c) => {
      const { id } = c.req.valid("param");
      const product = await findProduct(sql, id);
      if (!product) throw new NotFoundError(`Product ${id} not found`);
      return c.json(productJson(product), 200);
    })
    .get("/", queryParams(ListProductsQuery), async (c) => {
      const page = await listProducts(sql, c.req.valid("query"));
      return c.json({ items: page.items.map(productJson), next: page.next }, 200);
    });
}
