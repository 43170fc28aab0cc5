-- Every message the consumer received, stored before it is acked. `id` is the event id, so a
-- message delivered twice (redelivery, re-publish) is stored once.
create table orders.inbox_messages (
  id uuid primary key,
  -- arrival order: ProcessInboxJob handles pending rows in this order
  position bigint generated always as identity,
  type text,
  subject text not null,
  payload jsonb,
  -- the message as received, kept only when it could not be read as an event (status parked)
  raw_body bytea,
  headers jsonb not null default '{}',
  stream_sequence bigint not null,
  status text not null default 'pending'
    check (status in ('pending', 'processed', 'ignored', 'parked', 'dead')),
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  attempts int not null default 0,
  last_error text,
  next_attempt_at timestamptz not null default now()
);

-- ProcessInboxJob's claim reads only this small index, however many processed rows pile up.
create index inbox_messages_pending on orders.inbox_messages (position) where status = 'pending';
