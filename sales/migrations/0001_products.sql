create table sales.products (
  id uuid primary key,
  sku text not null,
  name text not null,
  description text,
  price_amount bigint not null check (price_amount >= 0),
  price_currency char(3) not null,
  version int not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  constraint products_sku_unique unique (sku)
);
