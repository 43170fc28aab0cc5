import { expect, test } from "bun:test";
import { PRODUCT_CREATED_V1, type ProductCreatedIntegrationEvent } from "contracts";
import { inboxStatusText, readInboxStatus } from "shared/inbox";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { testEnv, waitFor } from "shared/testing/test-environment.ts";
import { ORDERS_INBOX } from "../infrastructure/orders-inbox.ts";
import { integrationEventHandlers } from "../integration/handlers.ts";
import {
  productEvent,
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";

const sales = await startFakeSales();
const doomed = productSnapshot();
const orders = await startOrdersUnderTest(sales, {
  env: { INBOX_MAX_ATTEMPTS: "1" },
  overrides: {
    handlers: {
      ...integrationEventHandlers,
      [PRODUCT_CREATED_V1]: async (event: ProductCreatedIntegrationEvent, context) => {
        if (event.data.productId === doomed.productId) throw new Error("cache is on fire");
        await integrationEventHandlers[PRODUCT_CREATED_V1]?.(event, context);
      },
    },
  },
});
const env = {
  DATABASE_URL: orders.database.url,
  NATS_URL: testEnv.NATS_URL,
  NATS_NAMESPACE: sales.namespace,
};

// Two events applied, one whose handler fails (dead at once: INBOX_MAX_ATTEMPTS=1), one
// message that is not an event (parked), two of a type Orders does not handle (ignored), and one
// row waiting in backoff after two failures.
await sales.publishProduct("created", productSnapshot());
await sales.publishProduct("created", productSnapshot());
const dead = await sales.publishProduct("created", doomed);
await sales.publishRaw(PRODUCT_CREATED_V1, "{ not json");
const UNHANDLED = "sales.product.teleported.v1";
for (const _ of [1, 2]) {
  const event = { ...productEvent("created", productSnapshot()), type: UNHANDLED };
  await sales.publishRaw(UNHANDLED, JSON.stringify(event), event.id);
}
await waitFor(
  async () =>
    (await orders.sql`select 1 from orders.inbox_messages where status <> 'pending'`).length === 6,
  { message: "six messages settled" },
);
const retrying = Bun.randomUUIDv7();
await orders.sql`
  insert into orders.inbox_messages
    (id, type, subject, payload, stream_sequence, received_at, attempts, last_error, next_attempt_at)
  values (${retrying}, 'sales.product.updated.v1', 'sales.product.updated.v1', '{}', 99,
          now() - interval '10 minutes', 2, 'deadlock detected', now() + interval '1 hour')`;

test("--json gives the counts, the attempts histogram, the latest errors with ids and the ignored types", async () => {
  const result = await runScriptProcess("orders/scripts/inbox-status.ts", ["--json"], env);
  expect(result).toMatchObject({ code: 0, stderr: "" });
  const status = JSON.parse(result.stdout);
  expect(status).toMatchObject({
    pending: 1,
    dead: 1,
    parked: 1,
    attempts: [{ attempts: 2, rows: 1 }],
    ignored: { rows: 2, byType: [{ type: UNHANDLED, rows: 2 }] },
  });
  expect(status.oldestPendingAgeMs).toBeGreaterThanOrEqual(600_000);
  expect(status.latestErrors).toMatchObject([
    { id: retrying, status: "pending", attempts: 2, lastError: "deadlock detected" },
    { type: null, status: "parked", lastError: expect.stringContaining("not a valid event") },
    { id: dead.id, status: "dead", attempts: 1, lastError: "cache is on fire" },
  ]);
});

test("the text output shows the same for people", async () => {
  const text = inboxStatusText(await readInboxStatus(orders.sql, ORDERS_INBOX), ORDERS_INBOX);
  expect(text).toMatch(/Pending: +1\n/);
  expect(text).toMatch(/Oldest pending: +10 min \d\d s\n/);
  expect(text).toMatch(/Dead: +1\n/);
  expect(text).toMatch(/Parked: +1\n/);
  expect(text).toContain(dead.id);
  expect(text).toContain("cache is on fire");
  expect(text).toContain("(unreadable)");
  expect(text).toMatch(/Ignored: +2\n/);
  expect(text).toMatch(new RegExp(`\n  ${UNHANDLED.replaceAll(".", "\\.")} +2\n`));
});

test("--help explains and exits 0; a bad option exits 2", async () => {
  const help = await runScriptProcess("orders/scripts/inbox-status.ts", ["-h"], env);
  expect(help).toMatchObject({ code: 0 });
  expect(help.stdout).toContain("Usage: bun run inbox:status");
  const bad = await runScriptProcess("orders/scripts/inbox-status.ts", ["--errors", "-1"], env);
  expect(bad.code).toBe(2);
});
