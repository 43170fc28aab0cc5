-- The stream check compares the stream with the row at the highest sequence the outbox
-- recorded: found through this index rather than by sorting the retained rows.
create index outbox_messages_stream_sequence on sales.outbox_messages (stream_sequence)
  where stream_sequence is not null;
