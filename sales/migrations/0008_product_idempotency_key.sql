-- The client's Idempotency-Key, when it sent one, and what it asked for: a request repeated with
-- the same key gets the product the first one created (once the request is found the same).
-- Unique, so two copies racing each other create one product.
alter table sales.products add column idempotency_key text;
alter table sales.products add column idempotency_request text;
create unique index products_idempotency_key on sales.products (idempotency_key)
  where idempotency_key is not null;
