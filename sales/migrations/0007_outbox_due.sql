-- The relay claims from sales.outbox_due, a small table holding one row per due row of the
-- outbox (neither published nor parked), not from a partial index on the outbox itself.
--
-- Why: publishing a row takes it out of such an index, but its old entry stays there until
-- VACUUM removes it, and every claim walks past all of them (they hold the oldest keys). The
-- outbox keeps published rows for days, and on a table that large VACUUM skips the index part
-- of its work until 2 % of the table's pages hold dead rows: claims would walk millions of dead
-- entries. A table of due rows stays small, so autovacuum takes it up every minute or so and
-- clears its index whole.
--
-- Triggers keep it: every statement that inserts or updates outbox rows brings their due rows
-- in line (inserted, dropped, or moved to the new next_attempt_at), in the same transaction.
create table sales.outbox_due (
  id uuid primary key references sales.outbox_messages (id) on delete cascade,
  next_attempt_at timestamptz not null
);

create index outbox_due_next_attempt_at on sales.outbox_due (next_attempt_at);

create function sales.outbox_due_after_insert() returns trigger
language plpgsql as $$
begin
  insert into sales.outbox_due (id, next_attempt_at)
  select id, next_attempt_at from inserted where published_at is null and parked_at is null;
  return null;
end $$;

create function sales.outbox_due_after_update() returns trigger
language plpgsql as $$
begin
  delete from sales.outbox_due as due
  using updated
  where due.id = updated.id and (updated.published_at is not null or updated.parked_at is not null);

  insert into sales.outbox_due (id, next_attempt_at)
  select id, next_attempt_at from updated where published_at is null and parked_at is null
  on conflict (id) do update set next_attempt_at = excluded.next_attempt_at
    where outbox_due.next_attempt_at is distinct from excluded.next_attempt_at;
  return null;
end $$;

create trigger outbox_due_after_insert after insert on sales.outbox_messages
  referencing new table as inserted
  for each statement execute function sales.outbox_due_after_insert();

create trigger outbox_due_after_update after update on sales.outbox_messages
  referencing new table as updated
  for each statement execute function sales.outbox_due_after_update();

insert into sales.outbox_due (id, next_attempt_at)
select id, next_attempt_at from sales.outbox_messages
where published_at is null and parked_at is null;

drop index sales.outbox_messages_due;
