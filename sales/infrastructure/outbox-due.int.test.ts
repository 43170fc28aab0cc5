import { expect, test } from "bun:test";
import { migrate } from "shared";
import { useTestDatabase } from "../../shared/testing/test-environment.ts";
import { MIGRATIONS } from "../main.ts";

const db = await useTestDatabase();
await migrate(db.sql, MIGRATIONS);

/** The due table, and what it should be: the outbox rows neither published nor parked. */
async function dueRows() {
  const [mirror, expected] = await Promise.all([
    db.sql<{ id: string; at: Date }[]>`
      select id, next_attempt_at as at from sales.outbox_due order by id`,
    db.sql<{ id: string; at: Date }[]>`
      select id, next_attempt_at as at from sales.outbox_messages
      where published_at is null and parked_at is null order by id`,
  ]);
  const times = (rows: { id: string; at: Date }[]) =>
    rows.map((row) => ({ id: row.id, at: row.at.getTime() }));
  return { mirror: times(mirror), expected: times(expected) };
}

async function insert(count: number) {
  const ids = Array.from({ length: count }, () => Bun.randomUUIDv7());
  await db.sql`
    insert into sales.outbox_messages (id, type, subject, payload)
    select id, 'sales.product.created.v1', 'sales.product.created.v1', '{}'
    from unnest(${ids}::uuid[]) as id`;
  return ids;
}

test("outbox_due holds exactly the due outbox rows, through every change a row goes through", async () => {
  const ids = await insert(6);
  const [published, parked, retried, requeued, deleted] = ids as [
    string,
    string,
    string,
    string,
    string,
  ];
  expect((await dueRows()).mirror).toHaveLength(6);

  await db.sql`
    update sales.outbox_messages set published_at = now(), stream_sequence = 1
    where id in (${published}, ${requeued})`;
  await db.sql`update sales.outbox_messages set parked_at = now() where id = ${parked}`;
  await db.sql`
    update sales.outbox_messages set attempts = 1, next_attempt_at = now() + interval '1 minute'
    where id = ${retried}`;
  let rows = await dueRows();
  expect(rows.mirror).toHaveLength(3);
  expect(rows.mirror).toEqual(rows.expected);

  // The stream check's re-queueing and `outbox:republish` make published or parked rows due.
  await db.sql`
    update sales.outbox_messages
    set published_at = null, stream_sequence = null, next_attempt_at = 'epoch'::timestamptz
    where id = ${requeued}`;
  await db.sql`update sales.outbox_messages set parked_at = null where id = ${parked}`;
  await db.sql`delete from sales.outbox_messages where id = ${deleted}`;
  rows = await dueRows();
  expect(rows.mirror).toHaveLength(4);
  expect(rows.mirror).toEqual(rows.expected);
  expect(rows.mirror.find((row) => row.id === requeued)?.at).toBe(0);
  expect(rows.mirror.map((row) => row.id)).not.toContain(published);
  await db.sql`delete from sales.outbox_messages`;
});

test("a statement that changes no row's due time leaves outbox_due alone", async () => {
  const [id] = (await insert(1)) as [string];
  const [before] = await db.sql<
    { xmin: string }[]
  >`select xmin from sales.outbox_due where id = ${id}`;
  await db.sql`update sales.outbox_messages set last_error = 'noted' where id = ${id}`;
  const [after] = await db.sql<
    { xmin: string }[]
  >`select xmin from sales.outbox_due where id = ${id}`;
  expect(after?.xmin).toBe(before?.xmin ?? "");
  await db.sql`delete from sales.outbox_messages`;
});
