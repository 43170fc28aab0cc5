/** Money in minor units (cents) of an ISO 4217 currency. */
export type Money = { amount: number; currency: string };

/**
 * A product as Orders knows it: what it needs to price an order, and Sales' version of it so
 * a late, older copy never replaces a newer one.
 */
export type Product = {
  id: string;
  sku: string;
  name: string;
  price: Money;
  version: number;
};
