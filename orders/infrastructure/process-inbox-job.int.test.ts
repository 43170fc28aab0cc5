import { expect, test } from "bun:test";
import {
  IntegrationEvent,
  PRODUCT_CREATED_V1,
  type ProductCreatedIntegrationEvent,
} from "contracts";
import { closeDatabase, createDatabase, migrate } from "shared";
import {
  type ProcessInboxJobOptions,
  startProcessInboxJob,
  storeReceivedMessages,
} from "shared/inbox";
import { captureLogger } from "shared/testing/silent-logger.ts";
import { useTestDatabase, waitFor } from "shared/testing/test-environment.ts";
import type {
  HandlerContext,
  IntegrationEventHandler,
  IntegrationEventHandlers,
} from "../integration/handler.ts";
import { integrationEventHandlers } from "../integration/handlers.ts";
import { toProduct } from "../integration/product-snapshot.ts";
import { MIGRATIONS } from "../main.ts";
import { productEvent, productSnapshot } from "../testing/orders-under-test.ts";
import { inboxHandlerFor, ORDERS_INBOX } from "./orders-inbox.ts";

const db = await useTestDatabase();
await migrate(db.sql, MIGRATIONS);

/** ProcessInboxJob on the test database, running when woken (or a minute later), logs kept. */
function startJob({
  handlers = integrationEventHandlers,
  ...options
}: Partial<ProcessInboxJobOptions<IntegrationEvent>> & {
  handlers?: IntegrationEventHandlers;
} = {}) {
  const logs = captureLogger("orders");
  const job = startProcessInboxJob({
    inbox: ORDERS_INBOX,
    eventSchema: IntegrationEvent,
    handles: (type) => Object.hasOwn(handlers, type),
    handlerFor: inboxHandlerFor(handlers),
    sql: db.sql,
    log: logs.log,
    pollMs: 60_000,
    batchSize: 10,
    maxAttempts: 5,
    ...options,
  });
  return { job, logs };
}

function received(data: ReturnType<typeof productSnapshot>, sequence: number) {
  const event = productEvent("created", data);
  return {
    event,
    message: {
      subject: PRODUCT_CREATED_V1,
      data: new TextEncoder().encode(JSON.stringify(event)),
      streamSequence: sequence,
      headers: {},
    },
  };
}

/**
 * Stores three created events and applies them in one batch, the middle one's handler failing
 * as `doom` makes it. Only that message must fail; the other two commit in that batch.
 */
async function applyWithOneFailing(
  doom: (event: ProductCreatedIntegrationEvent, context: HandlerContext) => Promise<void>,
) {
  await db.sql`truncate orders.inbox_messages, orders.product_cache`;
  const [first, doomed, last] = [productSnapshot(), productSnapshot(), productSnapshot()];
  const stored = [first, doomed, last].map((data, index) => received(data, index + 1));
  await storeReceivedMessages(
    db.sql,
    ORDERS_INBOX,
    stored.map((s) => s.message),
    () => true,
  );

  const { job, logs } = startJob({
    handlers: {
      ...integrationEventHandlers,
      [PRODUCT_CREATED_V1]: (event: ProductCreatedIntegrationEvent, context) =>
        event.data.productId === doomed.productId
          ? doom(event, context)
          : createdHandler(event, context),
    },
  });
  try {
    const statuses = async () =>
      Object.fromEntries(
        (
          await db.sql<{ id: string; status: string; attempts: number }[]>`
          select id, status, attempts from orders.inbox_messages`
        ).map((r) => [r.id, `${r.status}/${r.attempts}`]),
      );
    const [a, b, c] = stored.map((s) => s.event.id) as [string, string, string];
    await waitFor(async () => (await statuses())[b] === "pending/1", {
      message: "the failure recorded",
    });
    expect(await statuses()).toEqual({ [a]: "processed/0", [b]: "pending/1", [c]: "processed/0" });

    const cached = await db.sql<
      { productId: string }[]
    >`select product_id from orders.product_cache`;
    expect(cached.map((r) => r.productId).sort()).toEqual([first.productId, last.productId].sort());
    // Logged after the commit, which this connection may see first.
    const applied = () =>
      logs.lines.filter((line) => line.msg === "event applied").map((line) => line.eventId);
    await waitFor(() => applied().length >= 2, { message: "both applied events logged" });
    expect(applied().sort()).toEqual([a, c].sort());
    const [failure] = await db.sql<{ lastError: string }[]>`
      select last_error from orders.inbox_messages where id = ${b}`;
    return failure?.lastError;
  } finally {
    await job.stop();
  }
}

const createdHandler = integrationEventHandlers[
  PRODUCT_CREATED_V1
] as IntegrationEventHandler<ProductCreatedIntegrationEvent>;

test("a handler that throws mid-batch rolls back only its own message; the others commit in that batch", async () => {
  const error = await applyWithOneFailing(async (event, context) => {
    await createdHandler(event, context);
    throw new Error("fails after writing");
  });
  expect(error).toBe("fails after writing");
});

test("a write Postgres refuses mid-batch fails only its own message, though the writes went out together", async () => {
  const error = await applyWithOneFailing((event, context) =>
    createdHandler(
      { ...event, data: { ...event.data, price: { amount: 1, currency: "EURO" } } },
      context,
    ),
  );
  expect(error).toContain("value too long for type character(3)");
});

test("a handler that throws synchronously after a write rolls back only its own message too", async () => {
  const error = await applyWithOneFailing((event, context) => {
    context.productCache.upsert(toProduct(event.data));
    throw new Error("fails synchronously after writing");
  });
  expect(error).toBe("fails synchronously after writing");
});

test("a stored payload that is not a valid event goes dead, and the log says why", async () => {
  const id = Bun.randomUUIDv7();
  const payload = { specversion: "1.0", id, type: PRODUCT_CREATED_V1, data: {} };
  await db.sql`
    insert into orders.inbox_messages (id, type, subject, payload, stream_sequence)
    values (${id}, ${PRODUCT_CREATED_V1}, ${PRODUCT_CREATED_V1}, ${db.sql.json(payload)}, 1)`;

  const { job, logs } = startJob();
  try {
    await waitFor(
      async () =>
        (await db.sql`select 1 from orders.inbox_messages where id = ${id} and status = 'dead'`)
          .length === 1,
      { message: "the row dead" },
    );
    const line = await waitFor(() => logs.lines.find((l) => l.eventId === id), {
      message: "the dead event logged",
    });
    expect(line).toMatchObject({ level: "error", msg: "event dead" });
    expect(line?.err).toContain("not a valid event");
    expect(line?.err).toContain("data.productId");
  } finally {
    await job.stop();
  }
});

test("a row of a type this version has no handler for (re-queued for a newer one) is ignored again, not dead", async () => {
  const teleported = {
    ...productEvent("created", productSnapshot()),
    type: "sales.product.teleported.v1",
  };
  const created = received(productSnapshot(), 2).event;
  for (const [event, sequence] of [
    [teleported, 1],
    [created, 2],
  ] as const) {
    await db.sql`
      insert into orders.inbox_messages (id, type, subject, payload, stream_sequence)
      values (${event.id}, ${event.type}, ${event.type}, ${db.sql.json(event)}, ${sequence})`;
  }

  const { job, logs } = startJob();
  try {
    const status = async (id: string) =>
      (
        await db.sql<{ status: string }[]>`
        select status from orders.inbox_messages where id = ${id}`
      )[0]?.status;
    await waitFor(async () => (await status(created.id)) === "processed", {
      message: "the handled event applied",
    });
    expect(await status(teleported.id)).toBe("ignored");
    const line = await waitFor(
      () => logs.lines.find((l) => l.type === "sales.product.teleported.v1"),
      { message: "the ignored event logged" },
    );
    expect(line).toMatchObject({ level: "warn", count: 1, eventIds: [teleported.id] });
    expect(line?.msg).toContain("inbox:replay --all-ignored");
  } finally {
    await job.stop();
  }
});

test("a deadlock with another instance's batch is retried without counting as an attempt", async () => {
  await db.sql`truncate orders.inbox_messages, orders.product_cache`;
  const data = productSnapshot();
  const { event, message } = received(data, 1);
  await storeReceivedMessages(db.sql, ORDERS_INBOX, [message], () => true);

  let calls = 0;
  const { job, logs } = startJob({
    maxAttempts: 1, // one counted failure would make the row dead
    retryDelay: () => 0,
    handlers: {
      ...integrationEventHandlers,
      [PRODUCT_CREATED_V1]: async (created: ProductCreatedIntegrationEvent, context) => {
        // Both passes of the first run meet the deadlock, as Postgres reports it (40P01).
        if (++calls <= 2) throw Object.assign(new Error("deadlock detected"), { code: "40P01" });
        await createdHandler(created, context);
      },
    },
  });
  try {
    await waitFor(
      async () => {
        job.wake();
        const [row] = await db.sql<{ status: string }[]>`
          select status from orders.inbox_messages where id = ${event.id}`;
        return row?.status === "processed";
      },
      { message: "the row processed on a later run" },
    );
    const [row] = await db.sql<{ attempts: number }[]>`
      select attempts from orders.inbox_messages where id = ${event.id}`;
    expect(row?.attempts).toBe(0);
    expect(logs.lines.some((line) => line.msg === "event dead")).toBe(false);
    expect(logs.lines.find((line) => line.eventId === event.id && line.level === "warn")?.msg).toBe(
      "event met a concurrent transaction, will retry (not counted as an attempt)",
    );
  } finally {
    await job.stop();
  }
});

test("an event whose id comes in upper case is counted as pending, so the job is woken for it", async () => {
  const { event } = received(productSnapshot(), 1);
  const upper = { ...event, id: event.id.toUpperCase() };
  const stored = await storeReceivedMessages(
    db.sql,
    ORDERS_INBOX,
    [
      {
        subject: upper.type,
        data: new TextEncoder().encode(JSON.stringify(upper)),
        streamSequence: 1,
        headers: {},
      },
    ],
    () => true,
  );
  expect(stored).toEqual({ inserted: 1, pending: 1, ignored: [], parked: [] });
});

test("a batch whose connection dies while it applies message by message commits nothing, then runs again", async () => {
  await db.sql`truncate orders.inbox_messages, orders.product_cache`;
  const [fine, failing, interrupted] = [1, 2, 3].map((sequence) =>
    received(productSnapshot(), sequence),
  ) as [ReturnType<typeof received>, ReturnType<typeof received>, ReturnType<typeof received>];
  await storeReceivedMessages(
    db.sql,
    ORDERS_INBOX,
    [fine, failing, interrupted].map((r) => r.message),
    () => true,
  );
  const jobSql = createDatabase(db.url, { name: "inbox-job-connection-lost", max: 1 });
  const createdHandler = integrationEventHandlers[
    PRODUCT_CREATED_V1
  ] as IntegrationEventHandler<ProductCreatedIntegrationEvent>;
  let connectionLost = false;
  const { job, logs } = startJob({
    sql: jobSql,
    pollMs: 20,
    retryDelay: () => 0,
    handlers: {
      ...integrationEventHandlers,
      [PRODUCT_CREATED_V1]: async (event: ProductCreatedIntegrationEvent, context) => {
        // One failing message makes the batch run again with a savepoint per message.
        if (event.id === failing.event.id) throw new Error("this one fails");
        if (event.id === interrupted.event.id && !connectionLost) {
          connectionLost = true;
          await db.sql`
            select pg_terminate_backend(pid) from pg_stat_activity
            where application_name = 'inbox-job-connection-lost'`;
        }
        return createdHandler(event, context);
      },
    },
  });
  try {
    await waitFor(
      async () =>
        (await db.sql`select 1 from orders.inbox_messages where status = 'processed'`).length === 2,
      { message: "the two good events applied" },
    );
  } finally {
    await job.stop();
    await closeDatabase(jobSql);
  }
  expect(connectionLost).toBe(true);
  const cached = await db.sql<{ productId: string }[]>`select product_id from orders.product_cache`;
  expect(new Set(cached.map((row) => row.productId))).toEqual(
    new Set([fine.event.data.productId, interrupted.event.data.productId]),
  );
  // Postgres going away was not taken for a failure of the message being handled.
  const blamed = logs.lines.filter((line) => line.eventId === interrupted.event.id && line.err);
  expect(blamed).toEqual([]);
});
