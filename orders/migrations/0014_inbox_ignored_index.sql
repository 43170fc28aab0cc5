-- `bun run inbox:status` counts ignored rows (no handler for their type when they arrived) by
-- type, so that whoever adds a handler knows what `inbox:replay --all-ignored` will apply. The
-- inbox keeps handled rows for weeks; this index holds the ignored ones only.
create index inbox_messages_ignored on orders.inbox_messages (type) where status = 'ignored';
