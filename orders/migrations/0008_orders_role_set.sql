-- Since PostgreSQL 16, a role made by a CREATEROLE user that is not a superuser (the admin user
-- of most managed services) is granted back to its maker with ADMIN only: a member, which the
-- role's migration took as enough, but one that may not SET ROLE to it, so the runtime
-- connection failed. This grants SET where it is missing; before 16, membership is enough.
do $$
begin
  if current_setting('server_version_num')::int >= 160000 then
    if not pg_has_role(current_user, 'orders', 'SET') then
      execute format('grant orders to %I', current_user);
    end if;
  end if;
exception when unique_violation then null;
end $$;
