-- A message can reach the inbox again long after its first copy: Sales sent it again
-- (`outbox:republish`, or its stream check after NATS lost data) past JetStream's duplicate
-- window, so the stream holds a second copy and keeps it max_age from then. Its row must stay
-- as long, or a consumer reading the stream again would store and apply the event anew:
-- retention counts from the newest copy. Null while only one copy has arrived.
alter table orders.inbox_messages add column last_received_at timestamptz;
