-- Publishing a row takes it out of outbox_messages_due, but its old entry stays in that index
-- until VACUUM removes it, and every claim walks past all such entries (they hold the oldest
-- keys). By default autovacuum waits for a fifth of the table to be dead, and the outbox keeps
-- published rows for days: the claim would grow dearer with the retained rows. Here autovacuum
-- takes the table up after a fixed number of changes, whatever its size (checked once per
-- autovacuum_naptime, 1 min by default).
alter table sales.outbox_messages set (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 5000
);
