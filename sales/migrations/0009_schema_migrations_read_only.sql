-- 0003 granted the runtime role every table of the schema, its record of migrations too: one
-- stray statement could then erase a row and make the next start re-apply a migration and fail.
-- The runtime may read which migrations ran, never change that. (Run as the admin user that
-- owns the table, as every migration should be: another user's REVOKE only warns.)
revoke insert, update, delete, truncate on sales.schema_migrations from sales;
