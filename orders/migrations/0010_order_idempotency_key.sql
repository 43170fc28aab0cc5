-- The client's Idempotency-Key, when it sent one: a request repeated with the same key gets the
-- order the first one placed. Unique, so two copies racing each other place one order.
alter table orders.orders add column idempotency_key text;
create unique index orders_idempotency_key on orders.orders (idempotency_key)
  where idempotency_key is not null;
