-- The role Sales' runtime connection acts as (SET ROLE sales): it reaches the sales schema and
-- nothing else, so data sovereignty is enforced by Postgres, not only by convention. Migrations
-- run as the connecting (admin) user. Roles are cluster-wide: another database may have made it.
do $$
begin
  create role sales nologin;
exception when duplicate_object or unique_violation then null;
end $$;

do $$
begin
  if not pg_has_role(current_user, 'sales', 'member') then
    execute format('grant sales to %I', current_user);
  end if;
exception when unique_violation then null;
end $$;

grant usage on schema sales to sales;
grant select, insert, update, delete on all tables in schema sales to sales;
grant usage, select on all sequences in schema sales to sales;
alter default privileges in schema sales grant select, insert, update, delete on tables to sales;
alter default privileges in schema sales grant usage, select on sequences to sales;
