import { expect, test } from "bun:test";
import { migrate } from "shared";
import { deletePublishedOutboxRows } from "shared/outbox";
import { useTestDatabase } from "shared/testing/test-environment.ts";
import { runDuringUncommittedChange } from "shared/testing/uncommitted-change.ts";
import { MIGRATIONS } from "../main.ts";
import { SALES_OUTBOX } from "./outbox.ts";

const db = await useTestDatabase();
await migrate(db.sql, MIGRATIONS);
const DAY = 24 * 60 * 60 * 1000;

async function row(
  label: string,
  {
    ageDays,
    published = false,
    parked = false,
  }: { ageDays: number; published?: boolean; parked?: boolean },
) {
  const at = new Date(Date.now() - ageDays * DAY);
  await db.sql`
    insert into sales.outbox_messages (id, type, subject, payload, occurred_at, published_at, parked_at)
    values (${Bun.randomUUIDv7()}, ${label}, 'sales.product.created.v1', '{}', ${at},
            ${published ? at : null}, ${parked ? at : null})`;
}

test("deletes published rows past retention in bounded batches, never pending or parked ones", async () => {
  for (let i = 0; i < 5; i++) await row("old-published", { ageDays: 8, published: true });
  await row("recent-published", { ageDays: 6, published: true });
  await row("old-pending", { ageDays: 30 });
  await row("old-parked", { ageDays: 30, parked: true });

  const retention = { retentionMs: 7 * DAY, batchSize: 2 };
  expect(await deletePublishedOutboxRows(db.sql, SALES_OUTBOX, retention)).toBe(2);
  expect(await deletePublishedOutboxRows(db.sql, SALES_OUTBOX, retention)).toBe(2);
  expect(await deletePublishedOutboxRows(db.sql, SALES_OUTBOX, retention)).toBe(1);
  expect(await deletePublishedOutboxRows(db.sql, SALES_OUTBOX, retention)).toBe(0);

  const left = await db.sql<
    { type: string }[]
  >`select type from sales.outbox_messages order by type`;
  expect(left.map((r) => r.type)).toEqual(["old-parked", "old-pending", "recent-published"]);
});

test("a row queued again (republish, a refill) while the deletion runs stays, queued", async () => {
  await row("queued-again", { ageDays: 8, published: true });
  const deleted = await runDuringUncommittedChange(
    db.sql,
    (tx) => tx`
      update sales.outbox_messages set published_at = null, next_attempt_at = now()
      where type = 'queued-again'`,
    () => deletePublishedOutboxRows(db.sql, SALES_OUTBOX, { retentionMs: 7 * DAY, batchSize: 10 }),
  );
  expect(deleted).toBe(0);
  const left = await db.sql`
    select published_at is null as queued from sales.outbox_messages where type = 'queued-again'`;
  expect([...left]).toEqual([{ queued: true }]);
});

test("autovacuum takes the outbox up after a fixed number of changes, however many rows it retains", async () => {
  // Published rows leave dead entries in the claim's index until VACUUM: see 0007_outbox_vacuum.sql.
  const [table] = await db.sql<{ options: string[] | null }[]>`
    select reloptions as options from pg_class where oid = 'sales.outbox_messages'::regclass`;
  expect(table?.options).toEqual(
    expect.arrayContaining([
      "autovacuum_vacuum_scale_factor=0",
      "autovacuum_vacuum_threshold=5000",
    ]),
  );
});
