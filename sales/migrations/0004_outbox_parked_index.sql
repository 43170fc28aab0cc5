-- Parked rows are few and wait for an operator: /metrics, /health/messaging and
-- `bun run outbox:status` count and list them through this small index, not a table scan.
create index outbox_messages_parked on sales.outbox_messages (parked_at)
  where parked_at is not null;
