-- The stream sequence of the newest copy of a message to reach the inbox (null while only one
-- copy has arrived: that one is at stream_sequence). When Orders' consumer starts, the message at
-- its ack floor must be one the inbox received at that very sequence; the same event at another
-- sequence means the stream lost what the consumer had acked and numbered new messages anew,
-- some of which the consumer would skip.
alter table orders.inbox_messages add column last_stream_sequence bigint;
