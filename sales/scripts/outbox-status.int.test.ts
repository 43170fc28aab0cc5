import { expect, test } from "bun:test";
import { outboxStatusText, readOutboxStatus } from "shared/outbox";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { testEnv, useTestDatabase, waitFor } from "shared/testing/test-environment.ts";
import { SALES_OUTBOX } from "../infrastructure/outbox.ts";
import { startSalesUnderTest } from "../testing/sales-under-test.ts";

const sales = await startSalesUnderTest();
const env = { DATABASE_URL: sales.database.url, NATS_URL: testEnv.NATS_URL };
const outboxStatus = (...args: string[]) =>
  runScriptProcess("sales/scripts/outbox-status.ts", args, env);

async function createProduct(sku: string) {
  const response = await sales.app.request("/products", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sku, name: sku, price: { amount: 100, currency: "EUR" } }),
  });
  expect(response.status).toBe(201);
}

// Three events published, then three rows that did not make it: two retrying (one fresh, one
// after three failures, ten minutes old) and one parked.
for (const sku of ["OUT-1", "OUT-2", "OUT-3"]) await createProduct(sku);
await waitFor(
  async () =>
    (await sales.sql`select 1 from sales.outbox_messages where published_at is not null`).length ===
    3,
  { message: "three rows published" },
);
const retrying = Bun.randomUUIDv7();
const parked = Bun.randomUUIDv7();
await sales.sql`
  insert into sales.outbox_messages
    (id, type, subject, payload, occurred_at, attempts, last_error, next_attempt_at, parked_at)
  values
    (${Bun.randomUUIDv7()}, 'sales.product.created.v1', 'sales.product.created.v1', '{}',
     now(), 0, null, now() + interval '1 hour', null),
    (${retrying}, 'sales.product.updated.v1', 'sales.product.updated.v1', '{}',
     now() - interval '10 minutes', 3, 'NATS is not connected', now() + interval '1 hour', null),
    (${parked}, 'sales.product.created.v1', 'sales.product.created.v1', '{}',
     now() - interval '5 minutes', 1, 'message of 2000000 bytes exceeds max_payload', now(), now())`;

test("--json gives the counts, the attempts histogram and the latest errors with ids", async () => {
  const result = await outboxStatus("--json");
  expect(result).toMatchObject({ code: 0, stderr: "" });
  const status = JSON.parse(result.stdout);
  expect(status).toMatchObject({
    pending: 2,
    parked: 1,
    publishedLastHour: 3,
    attempts: [
      { attempts: 0, rows: 1 },
      { attempts: 3, rows: 1 },
    ],
  });
  expect(status.oldestPendingAgeMs).toBeGreaterThanOrEqual(600_000);
  expect(status.latestErrors).toMatchObject([
    { id: parked, state: "parked", attempts: 1, lastError: expect.stringContaining("max_payload") },
    { id: retrying, state: "retrying", attempts: 3, lastError: "NATS is not connected" },
  ]);
});

test("the text output shows the same for people", async () => {
  const stdout = outboxStatusText(await readOutboxStatus(sales.sql, SALES_OUTBOX), SALES_OUTBOX);
  expect(stdout).toMatch(/Pending: +2\n/);
  expect(stdout).toMatch(/Oldest pending: +10 min \d\d s\n/);
  expect(stdout).toMatch(/Parked: +1\n/);
  expect(stdout).toMatch(/Published \(1 h\): +3\n/);
  expect(stdout).toContain(retrying);
  expect(stdout).toContain(parked);
  expect(
    outboxStatusText(await readOutboxStatus(sales.sql, SALES_OUTBOX, { errors: 1 }), SALES_OUTBOX),
  ).not.toContain(retrying);
});

test("--help explains and exits 0; a bad option exits 2 naming it", async () => {
  const help = await outboxStatus("--help");
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Usage: bun run outbox:status");
  expect(help.stdout).toContain("--json");
  const bad = await outboxStatus("--errors", "many");
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--errors: must be a whole number");
});

test("on a database never migrated, it says to migrate it", async () => {
  const empty = await useTestDatabase();
  const result = await runScriptProcess("sales/scripts/outbox-status.ts", [], {
    ...env,
    DATABASE_URL: empty.url,
  });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('relation "sales.outbox_messages" does not exist');
  expect(result.stderr).toContain("Has the database been migrated? bun run migrate");
});
