import { Hono } from "hono";
import {
  describeRoute,
  ErrorResponse,
  IdempotencyKeyHeader,
  IdParam,
  jsonBody,
  NotFoundError,
  PageQuery,
  pathParams,
  queryParams,
  requestHeaders,
  type Sql,
} from "shared";
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

/** The product as the API shows it. */
export const ProductResponse = v.object({
  id: v.pipe(v.string(), v.uuid()),
  sku: v.string(),
  name: v.string(),
  description: v.nullable(v.string()),
  price: v.object({
    amount: v.pipe(v.number(), v.integer(), v.description("In minor units (cents)")),
    currency: v.pipe(v.string(), v.description("ISO 4217")),
  }),
  version: v.pipe(v.number(), v.integer(), v.minValue(1)),
  createdAt: v.pipe(v.string(), v.isoTimestamp()),
  updatedAt: v.pipe(v.string(), v.isoTimestamp()),
});

export const ProductPage = v.object({
  items: v.array(ProductResponse),
  next: v.pipe(v.nullable(v.string()), v.description("Pass as `after` for the next page")),
});

const EXAMPLE_ID = "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77";
const notFound = { description: "No product with this id", schema: ErrorResponse };

export function productJson(product: Product): v.InferOutput<typeof ProductResponse> {
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
    .post(
      "/",
      describeRoute({
        summary: "Create a product (and publish sales.product.created.v1)",
        description:
          "With an `Idempotency-Key` header, the same request again (e.g. after a 503 `outcome_unknown`) answers with the product the first one created, as it is now, and header `Idempotent-Replayed: true`, instead of a 409.",
        tags: ["products"],
        responses: {
          201: { description: "The product, at version 1", schema: ProductResponse },
          409: { description: "A product with this sku exists", schema: ErrorResponse },
          422: {
            description: "The Idempotency-Key created a product from another request",
            schema: ErrorResponse,
          },
        },
        example: {
          json: {
            sku: "MUG-1",
            name: "Mug",
            description: "Stoneware, 350 ml",
            price: { amount: 1299, currency: "EUR" },
          },
        },
      }),
      requestHeaders(IdempotencyKeyHeader),
      jsonBody(CreateProductBody),
      async (c) => {
        const { product, replayed } = await createProduct(c.req.valid("json"), {
          traceparent: c.get("traceparent"),
          deadline: c.get("deadline"),
          idempotencyKey: c.req.valid("header")["idempotency-key"],
        });
        // A repeated request gets the same answer, marked as such (as Stripe's API does).
        const headers = {
          Location: `/products/${product.id}`,
          "Idempotent-Replayed": String(replayed),
        };
        return c.json(productJson(product), 201, headers);
      },
    )
    .patch(
      "/:id",
      describeRoute({
        summary: "Change a product (and publish sales.product.updated.v1)",
        description:
          "Only the fields given change; a change that changes nothing keeps the version.",
        tags: ["products"],
        responses: {
          200: { description: "The product at its new version", schema: ProductResponse },
          404: notFound,
        },
        example: { param: { id: EXAMPLE_ID }, json: { price: { amount: 1499, currency: "EUR" } } },
      }),
      pathParams(IdParam),
      jsonBody(UpdateProductBody),
      async (c) => {
        const { id } = c.req.valid("param");
        const product = await updateProduct(id, c.req.valid("json"), {
          traceparent: c.get("traceparent"),
          deadline: c.get("deadline"),
        });
        return c.json(productJson(product), 200);
      },
    )
    .get(
      "/:id",
      describeRoute({
        summary: "One product",
        tags: ["products"],
        responses: { 200: { description: "The product", schema: ProductResponse }, 404: notFound },
        example: { param: { id: EXAMPLE_ID } },
      }),
      pathParams(IdParam),
      async (c) => {
        const { id } = c.req.valid("param");
        const product = await findProduct(sql, id);
        if (!product) throw new NotFoundError(`Product ${id} not found`);
        return c.json(productJson(product), 200);
      },
    )
    .get(
      "/",
      describeRoute({
        summary: "Products in creation order, a page at a time",
        description:
          "A listing, not a change feed: ids come from the clock of the process that created the product, so one created while you page can land before your `after` and not be shown. To follow every product, consume Sales' events (see /asyncapi.json).",
        tags: ["products"],
        responses: { 200: { description: "One page", schema: ProductPage } },
        example: { query: { limit: "20" } },
      }),
      queryParams(PageQuery),
      async (c) => {
        const page = await listProducts(sql, c.req.valid("query"));
        return c.json({ items: page.items.map(productJson), next: page.next }, 200);
      },
    );
}
