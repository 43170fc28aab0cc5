-- Integration events waiting for (or done with) the relay. A row is written in the same
-- transaction as the business change; the relay publishes it with Nats-Msg-Id = id.
create table sales.outbox_messages (
  id uuid primary key,
  type text not null,
  subject text not null,
  payload jsonb not null,
  headers jsonb not null default '{}',
  occurred_at timestamptz not null default now(),
  published_at timestamptz,
  stream_sequence bigint,
  attempts int not null default 0,
  last_error text,
  next_attempt_at timestamptz not null default now(),
  -- set when the row can never be sent (e.g. larger than the server accepts)
  parked_at timestamptz
);

-- The relay's claim query reads only this small index, however many published rows pile up.
create index outbox_messages_due on sales.outbox_messages (next_attempt_at)
  where published_at is null and parked_at is null;

-- Retention deletes published rows by age; re-publishing finds rows by time.
create index outbox_messages_published on sales.outbox_messages (published_at)
  where published_at is not null;
