-- ProcessInboxJob claims from orders.inbox_pending, a small table holding one row per pending
-- row of the inbox, not from a partial index on the inbox itself.
--
-- Why: handling a row takes it out of such an index, but its old entry stays there until
-- VACUUM removes it, and every claim walks past all of them (they hold the lowest positions).
-- The inbox keeps handled rows for weeks, and on a table that large VACUUM skips the index part
-- of its work until 2 % of the table's pages hold dead rows: claims would walk millions of dead
-- entries. A table of pending rows stays small, so autovacuum takes it up every minute or so
-- and clears its index whole.
--
-- Triggers keep it: every statement that inserts or updates inbox rows brings their pending rows
-- in line (inserted, dropped, or moved to the new next_attempt_at), in the same transaction.
create table orders.inbox_pending (
  id uuid primary key references orders.inbox_messages (id) on delete cascade,
  position bigint not null,
  next_attempt_at timestamptz not null
);

create index inbox_pending_position on orders.inbox_pending (position);

create function orders.inbox_pending_after_insert() returns trigger
language plpgsql as $$
begin
  insert into orders.inbox_pending (id, position, next_attempt_at)
  select id, position, next_attempt_at from inserted where status = 'pending';
  return null;
end $$;

create function orders.inbox_pending_after_update() returns trigger
language plpgsql as $$
begin
  delete from orders.inbox_pending as pending
  using updated
  where pending.id = updated.id and updated.status <> 'pending';

  insert into orders.inbox_pending (id, position, next_attempt_at)
  select id, position, next_attempt_at from updated where status = 'pending'
  on conflict (id) do update set next_attempt_at = excluded.next_attempt_at
    where inbox_pending.next_attempt_at is distinct from excluded.next_attempt_at;
  return null;
end $$;

create trigger inbox_pending_after_insert after insert on orders.inbox_messages
  referencing new table as inserted
  for each statement execute function orders.inbox_pending_after_insert();

create trigger inbox_pending_after_update after update on orders.inbox_messages
  referencing new table as updated
  for each statement execute function orders.inbox_pending_after_update();

insert into orders.inbox_pending (id, position, next_attempt_at)
select id, position, next_attempt_at from orders.inbox_messages where status = 'pending';

drop index orders.inbox_messages_pending;
