import { expect, test } from "bun:test";
import { migrate, natsNames, startNatsLink } from "shared";
import { deleteHandledInboxRows, startInboxRetention, storeReceivedMessages } from "shared/inbox";
import { afterTests } from "shared/testing/cleanup.ts";
import { silentLogger } from "shared/testing/silent-logger.ts";
import { testEnv, useTestDatabase, waitFor } from "shared/testing/test-environment.ts";
import { runDuringUncommittedChange } from "shared/testing/uncommitted-change.ts";
import { MIGRATIONS } from "../main.ts";
import { productEvent, productSnapshot, startFakeSales } from "../testing/orders-under-test.ts";
import { ORDERS_INBOX } from "./orders-inbox.ts";

const db = await useTestDatabase();
await migrate(db.sql, MIGRATIONS);
const MINUTE = 60_000;

async function row(status: string, ageMinutes: number) {
  await db.sql`
    insert into orders.inbox_messages (id, type, subject, stream_sequence, status, received_at)
    values (${Bun.randomUUIDv7()}, ${status}, 'sales.product.created.v1', 1, ${status},
            ${new Date(Date.now() - ageMinutes * MINUTE)})`;
}

async function statusesLeft() {
  const rows = await db.sql<
    { type: string }[]
  >`select type from orders.inbox_messages order by type`;
  return rows.map((r) => r.type);
}

test("deletes handled rows past retention in bounded batches, never pending, parked or dead ones", async () => {
  for (const status of ["processed", "processed", "ignored", "pending", "parked", "dead"])
    await row(status, 120);
  await row("processed", 5);

  const retention = { retentionMs: 60 * MINUTE, batchSize: 2 };
  expect(await deleteHandledInboxRows(db.sql, ORDERS_INBOX, retention)).toBe(2);
  expect(await deleteHandledInboxRows(db.sql, ORDERS_INBOX, retention)).toBe(1);
  expect(await deleteHandledInboxRows(db.sql, ORDERS_INBOX, retention)).toBe(0);
  expect(await statusesLeft()).toEqual(["dead", "parked", "pending", "processed"]);
  await db.sql`delete from orders.inbox_messages`;
});

test("a row given another chance (inbox:replay) or received again while the deletion runs stays", async () => {
  await row("ignored", 120);
  await row("processed", 120);
  const deleted = await runDuringUncommittedChange(
    db.sql,
    async (tx) => {
      await tx`update orders.inbox_messages set status = 'pending' where type = 'ignored'`;
      await tx`update orders.inbox_messages set last_received_at = now() where type = 'processed'`;
    },
    () => deleteHandledInboxRows(db.sql, ORDERS_INBOX, { retentionMs: 60 * MINUTE, batchSize: 10 }),
  );
  expect(deleted).toBe(0);
  expect(await statusesLeft()).toEqual(["ignored", "processed"]);
  await db.sql`delete from orders.inbox_messages`;
});

test("counts from the newest copy of a message: the stream keeps a copy sent again its max_age from then", async () => {
  const event = productEvent("created", productSnapshot());
  const message = {
    subject: event.type,
    data: new TextEncoder().encode(JSON.stringify(event)),
    streamSequence: 1,
    headers: {},
  };
  await storeReceivedMessages(db.sql, ORDERS_INBOX, [message], () => true);
  await db.sql`
    update orders.inbox_messages
    set status = 'processed', received_at = now() - interval '2 hours'
    where id = ${event.id}`;
  // Sent again past the duplicate window (say, by `outbox:republish`): a second copy arrives.
  const copy = await storeReceivedMessages(
    db.sql,
    ORDERS_INBOX,
    [{ ...message, streamSequence: 2 }],
    () => true,
  );
  expect(copy.inserted).toBe(0);

  expect(
    await deleteHandledInboxRows(db.sql, ORDERS_INBOX, { retentionMs: 60 * MINUTE, batchSize: 10 }),
  ).toBe(0);
  await db.sql`
    update orders.inbox_messages set last_received_at = now() - interval '90 minutes'
    where id = ${event.id}`;
  expect(
    await deleteHandledInboxRows(db.sql, ORDERS_INBOX, { retentionMs: 60 * MINUTE, batchSize: 10 }),
  ).toBe(1);
});

test("keeps handled rows an hour longer than the stream keeps messages, even with a shorter retention", async () => {
  const sales = await startFakeSales(); // its stream keeps messages for 60 minutes
  await row("processed", 150);
  await row("ignored", 90);
  const nats = startNatsLink({ url: testEnv.NATS_URL, name: "retention-test", log: silentLogger });
  const retention = startInboxRetention({
    sql: db.sql,
    inbox: ORDERS_INBOX,
    nats,
    names: natsNames(sales.namespace),
    log: silentLogger,
    retentionMs: MINUTE,
    intervalMs: 50,
  });
  afterTests(async () => {
    await retention.stop();
    await nats.close();
  });
  await waitFor(async () => (await statusesLeft()).length === 1, {
    message: "the 150-minute-old row deleted",
  });
  expect(await statusesLeft()).toEqual(["ignored"]);
});

test("autovacuum takes the inbox up after a fixed number of changes, however many rows it retains", async () => {
  // Handled rows leave dead entries in the claim's index until VACUUM: see 0009_inbox_vacuum.sql.
  const [table] = await db.sql<{ options: string[] | null }[]>`
    select reloptions as options from pg_class where oid = 'orders.inbox_messages'::regclass`;
  expect(table?.options).toEqual(
    expect.arrayContaining([
      "autovacuum_vacuum_scale_factor=0",
      "autovacuum_vacuum_threshold=5000",
    ]),
  );
});
