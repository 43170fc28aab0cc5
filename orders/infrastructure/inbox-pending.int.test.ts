import { expect, test } from "bun:test";
import { migrate } from "shared";
import { useTestDatabase } from "../../shared/testing/test-environment.ts";
import { MIGRATIONS } from "../main.ts";

const db = await useTestDatabase();
await migrate(db.sql, MIGRATIONS);

type Row = { id: string; position: string; at: Date };

/** The pending table, and what it should be: the inbox rows whose status is pending. */
async function pendingRows() {
  const [mirror, expected] = await Promise.all([
    db.sql<Row[]>`select id, position, next_attempt_at as at from orders.inbox_pending order by id`,
    db.sql<Row[]>`
      select id, position, next_attempt_at as at from orders.inbox_messages
      where status = 'pending' order by id`,
  ]);
  const plain = (rows: Row[]) =>
    rows.map((row) => ({ id: row.id, position: String(row.position), at: row.at.getTime() }));
  return { mirror: plain(mirror), expected: plain(expected) };
}

async function insert(statuses: string[]) {
  const ids = statuses.map(() => Bun.randomUUIDv7());
  await db.sql`
    insert into orders.inbox_messages (id, type, subject, stream_sequence, status)
    select id, 'sales.product.created.v1', 'sales.product.created.v1', 1, status
    from unnest(${ids}::uuid[], ${statuses}::text[]) as m(id, status)`;
  return ids;
}

test("inbox_pending holds exactly the pending inbox rows, through every change a row goes through", async () => {
  const ids = await insert(["pending", "pending", "pending", "pending", "pending", "parked"]);
  const [processed, dead, retried, replayed, deleted, parked] = ids as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  expect((await pendingRows()).mirror).toHaveLength(5);

  await db.sql`
    update orders.inbox_messages set status = 'processed', processed_at = now()
    where id = ${processed}`;
  await db.sql`
    update orders.inbox_messages set status = 'dead' where id in (${dead}, ${replayed})`;
  await db.sql`
    update orders.inbox_messages set attempts = 1, next_attempt_at = now() + interval '1 minute'
    where id = ${retried}`;
  let rows = await pendingRows();
  expect(rows.mirror).toHaveLength(2);
  expect(rows.mirror).toEqual(rows.expected);

  // `inbox:replay` makes a dead row pending again, in its old place.
  await db.sql`
    update orders.inbox_messages set status = 'pending', attempts = 0, next_attempt_at = now()
    where id = ${replayed}`;
  await db.sql`delete from orders.inbox_messages where id = ${deleted}`;
  rows = await pendingRows();
  expect(rows.mirror).toHaveLength(2);
  expect(rows.mirror).toEqual(rows.expected);
  expect(rows.mirror.map((row) => row.id)).toEqual([retried, replayed].sort());
  expect(rows.mirror.map((row) => row.id)).not.toContain(parked);
  await db.sql`delete from orders.inbox_messages`;
});

test("a statement that changes no row's due time leaves inbox_pending alone", async () => {
  const [id] = (await insert(["pending"])) as [string];
  const [before] = await db.sql<
    { xmin: string }[]
  >`select xmin from orders.inbox_pending where id = ${id}`;
  await db.sql`update orders.inbox_messages set last_error = 'noted' where id = ${id}`;
  const [after] = await db.sql<
    { xmin: string }[]
  >`select xmin from orders.inbox_pending where id = ${id}`;
  expect(after?.xmin).toBe(before?.xmin ?? "");
  await db.sql`delete from orders.inbox_messages`;
});
