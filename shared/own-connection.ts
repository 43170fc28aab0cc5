import type { Queryable, Sql } from "./database.ts";

/**
 * Transactions on a connection of one loop's own (a pool with `max: 1` that nothing else
 * uses), such as the outbox relay's or ProcessInboxJob's. Alone on its connection, a
 * transaction's `begin` need not be a round trip of its own: it goes out in the same write as
 * the first statement. A loop's transactions are short and run all day, so that is a round
 * trip fewer on the path of every event (`sql.begin` waits for `begin` before it sends more).
 */
export type OwnConnection = {
  /**
   * Runs `work` in a transaction and commits it; rolls back and rethrows if `work` throws.
   * Transactions run one at a time, in call order.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
};

export function ownConnection(sql: Sql): OwnConnection {
  if (sql.options.max !== 1) {
    throw new Error("ownConnection needs a pool of exactly one connection (max: 1)");
  }
  let previous: Promise<unknown> = Promise.resolve();

  async function run<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const begun = sql`begin`.execute();
    // Failing to begin fails `work`'s statements too; that is the error the caller sees.
    begun.catch(() => {});
    try {
      const result = await work(sql);
      await begun;
      await sql`commit`;
      return result;
    } catch (error) {
      // A broken connection rolls back by itself: the server ends the transaction with it.
      await sql`rollback`.catch(() => {});
      throw error;
    }
  }

  return {
    transaction(work) {
      const current = previous.then(() => run(work));
      previous = current.catch(() => {});
      return current;
    },
  };
}
