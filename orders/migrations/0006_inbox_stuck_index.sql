-- Dead and parked rows are few and wait for an operator: /metrics, /health/messaging and
-- `bun run inbox:status` count and list them through this small index, not a table scan.
create index inbox_messages_stuck on orders.inbox_messages (position)
  where status in ('dead', 'parked');
