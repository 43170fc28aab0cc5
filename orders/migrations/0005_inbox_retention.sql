-- Retention deletes handled rows by age; pending, parked and dead rows are never in this index.
create index inbox_messages_done on orders.inbox_messages (received_at)
  where status in ('processed', 'ignored');
