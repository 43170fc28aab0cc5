create table orders.orders (
  id uuid primary key,
  currency char(3) not null,
  total_amount bigint not null check (total_amount >= 0),
  created_at timestamptz not null
);

-- Each line keeps the price it was sold at, copied from the cache when the order was placed.
create table orders.order_lines (
  order_id uuid not null references orders.orders (id),
  line_number int not null,
  product_id uuid not null,
  sku text not null,
  name text not null,
  quantity int not null check (quantity between 1 and 10000),
  unit_price_amount bigint not null,
  currency char(3) not null,
  line_total_amount bigint not null,
  primary key (order_id, line_number)
);
