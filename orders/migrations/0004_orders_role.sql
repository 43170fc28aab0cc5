-- The role Orders' runtime connection acts as (SET ROLE orders): it reaches the orders schema and
-- nothing else, so data sovereignty is enforced by Postgres, not only by convention. Migrations
-- run as the connecting (admin) user. Roles are cluster-wide: another database may have made it.
do $$
begin
  create role orders nologin;
exception when duplicate_object or unique_violation then null;
end $$;

do $$
begin
  if not pg_has_role(current_user, 'orders', 'member') then
    execute format('grant orders to %I', current_user);
  end if;
exception when unique_violation then null;
end $$;

grant usage on schema orders to orders;
grant select, insert, update, delete on all tables in schema orders to orders;
grant usage, select on all sequences in schema orders to orders;
alter default privileges in schema orders grant select, insert, update, delete on tables to orders;
alter default privileges in schema orders grant usage, select on sequences to orders;
