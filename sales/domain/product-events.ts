import type { Product } from "./product.ts";

/** Raised by `createProduct`: the product exists, at version 1. */
export type ProductCreatedDomainEvent = {
  type: "ProductCreated";
  product: Product;
  occurredAt: Date;
};

/** Raised by `updateProduct` when something changed: the product's new state and version. */
export type ProductUpdatedDomainEvent = {
  type: "ProductUpdated";
  product: Product;
  occurredAt: Date;
};

export type ProductDomainEvent = ProductCreatedDomainEvent | ProductUpdatedDomainEvent;
