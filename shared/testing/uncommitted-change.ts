import type { Sql, Transaction } from "../database.ts";
import { waitFor } from "./test-environment.ts";

/**
 * Runs `statement` while another transaction holds `change` made but not committed, and commits
 * the change as soon as the statement has finished or waits for a lock on what it changed: a
 * statement that waited then sees the committed change, as it would in production.
 */
export async function runDuringUncommittedChange<T>(
  sql: Sql,
  change: (transaction: Transaction) => Promise<unknown>,
  statement: () => Promise<T>,
): Promise<T> {
  const changeMade = Promise.withResolvers<void>();
  const committing = Promise.withResolvers<void>();
  const transaction = sql.begin(async (tx) => {
    await change(tx);
    changeMade.resolve();
    await committing.promise;
  });
  await Promise.race([changeMade.promise, transaction]);

  let finished = false;
  const result = statement().finally(() => {
    finished = true;
  });
  await waitFor(
    async () =>
      finished ||
      (
        await sql<{ waiting: number }[]>`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`
      )[0]?.waiting,
    { message: "the statement finished or waits for a lock" },
  );
  committing.resolve();
  await transaction;
  return await result;
}
