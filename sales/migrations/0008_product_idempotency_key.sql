-- The client's Idempotency-Key, when it sent one: a request repeated with the same key gets the
-- product the first one created. Unique, so two copies racing each other create one product.
alter table sales.products add column idempotency_key text;
create unique index products_idempotency_key on sales.products (idempotency_key)
  where idempotency_key is not null;
