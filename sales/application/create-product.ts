import { ConflictError, UnprocessableError } from "shared";
import { createProduct, type NewProduct, type Product } from "../domain/product.ts";
import type { RequestContext, RunInTransaction } from "./ports.ts";
import { dispatchDomainEvents } from "./product-event-handlers.ts";

export type CreateProductContext = RequestContext & {
  /** The client's `Idempotency-Key`: the same key again gets the product it created. */
  idempotencyKey?: string | undefined;
};

/** The product, and whether an earlier request with the same idempotency key created it. */
export type CreatedProduct = { product: Product; replayed: boolean };

export type CreateProduct = (
  input: NewProduct,
  context?: CreateProductContext,
) => Promise<CreatedProduct>;

/** Creates a product and its `created` event in one transaction. */
export function createProductUseCase(deps: {
  inTransaction: RunInTransaction;
  newId: () => string;
  now: () => Date;
}): CreateProduct {
  const attempt = (input: NewProduct, context: CreateProductContext) =>
    deps.inTransaction(
      async ({ products, eventBus }): Promise<CreatedProduct> => {
        const { product, events } = createProduct(input, { id: deps.newId(), now: deps.now() });
        const { idempotencyKey: key } = context;
        const idempotency = key === undefined ? undefined : { key, request: requestOf(product) };
        if (idempotency) {
          const earlier = await products.findByIdempotencyKey(idempotency.key);
          if (earlier)
            return { product: sameRequest(earlier, idempotency.request), replayed: true };
        }
        products.add(product, idempotency);
        dispatchDomainEvents(events, eventBus);
        return { product, replayed: false };
      },
      context,
      { shared: true },
    );

  return async (input, context = {}) => {
    try {
      return await attempt(input, context);
    } catch (error) {
      // A copy of this request, with the same key, may have committed first: its product is
      // the answer. Without one, the second attempt fails as the first did.
      if (context.idempotencyKey === undefined || !(error instanceof ConflictError)) throw error;
      return attempt(input, context);
    }
  };
}

/** What a create request asked for, as its new product shows it (e.g. the name trimmed). */
function requestOf({ sku, name, description, price }: Product): string {
  return JSON.stringify({ sku, name, description, price });
}

/** The product a repeated request gets, if it asks for what the first one did. */
function sameRequest(earlier: { product: Product; request: string }, request: string): Product {
  if (earlier.request === request) return earlier.product;
  throw new UnprocessableError("The Idempotency-Key was used for a different product", [
    {
      path: "Idempotency-Key",
      message: `already created product ${earlier.product.id} from another request`,
    },
  ]);
}
