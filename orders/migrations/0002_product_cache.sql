-- Orders' own copy of what it needs to know about products, fed by Sales' events.
create table orders.product_cache (
  product_id uuid primary key,
  sku text not null,
  name text not null,
  price_amount bigint not null,
  price_currency char(3) not null,
  -- Sales' version of the product: an upsert never replaces a row with a lower or equal one
  version int not null,
  updated_at timestamptz not null default now()
);
