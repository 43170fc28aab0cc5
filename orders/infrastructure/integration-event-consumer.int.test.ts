import { describe, expect, test } from "bun:test";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats, ensureStream, migrate, natsNames, type Sql, startNatsLink } from "shared";
import {
  consumerDescription,
  type IntegrationEventConsumerOptions,
  startIntegrationEventConsumer,
  UNREADABLE_HEADERS,
} from "shared/inbox";
import { afterTests } from "shared/testing/cleanup.ts";
import { interceptRequests, linkTo } from "shared/testing/nats-connections.ts";
import { captureLogger, silentLogger } from "shared/testing/silent-logger.ts";
import { testEnv, uniqueId, useTestDatabase, waitFor } from "shared/testing/test-environment.ts";
import { MIGRATIONS } from "../main.ts";
import {
  type FakeSales,
  productEvent,
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";
import { ORDERS_INBOX } from "./orders-inbox.ts";

/** Header bytes nats.js cannot decode (a space in a name) but the server stores as they are. */
const MALFORMED_HEADERS = "NATS/1.0\r\nBad Key: x\r\n\r\n";

/**
 * Publishes `body` with `headerBlock` as its headers over a plain socket, as a client that does
 * not validate headers would: nats.js refuses to send such headers.
 */
async function publishWithRawHeaders(subject: string, headerBlock: string, body: string) {
  const { hostname, port } = new URL(testEnv.NATS_URL);
  const headerBytes = Buffer.byteLength(headerBlock);
  const totalBytes = headerBytes + Buffer.byteLength(body);
  const answered = Promise.withResolvers<void>();
  let received = "";
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_socket, data) {
        received += data.toString();
        if (received.includes("-ERR")) answered.reject(new Error(received));
        else if (received.includes("PONG")) answered.resolve();
      },
      error: (_socket, error) => answered.reject(error),
      close: () => answered.reject(new Error(`closed before PONG: ${received}`)),
    },
  });
  socket.write(
    `CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n` +
      `HPUB ${subject} ${headerBytes} ${totalBytes}\r\n${headerBlock}${body}\r\nPING\r\n`,
  );
  // The server answers PING after it has taken the HPUB before it.
  await answered.promise;
  socket.end();
}

/** Orders' inbox, every type handled, small batches, nothing done after a batch is stored. */
const CONSUMER_SETTINGS = {
  inbox: ORDERS_INBOX,
  handles: () => true,
  onStored: () => {},
  batchSize: 10,
  ackWaitMs: 30_000,
  maxAckPending: 100,
};

/** The consumer alone, on the fake Sales' stream; stopped after the tests if not before. */
function startConsumer(
  sales: FakeSales,
  sql: Sql,
  options: Partial<IntegrationEventConsumerOptions> = {},
) {
  const log = options.log ?? silentLogger;
  const nats = startNatsLink({
    url: testEnv.NATS_URL,
    name: "orders-test",
    log,
    retryMs: 50,
    onConnect: () => consumer.wake(),
  });
  const consumer = startIntegrationEventConsumer({
    ...CONSUMER_SETTINGS,
    sql,
    nats,
    names: natsNames(sales.namespace),
    log,
    ...options,
  });
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= consumer.stop().then(() => nats.close());
    return stopped;
  };
  afterTests(stop);
  return { consumer, stop };
}

/** Waits until the event `id` is in the inbox. */
const waitUntilStored = (sql: Sql, id: string, { timeoutMs = 10_000 } = {}) =>
  waitFor(
    async () => (await sql`select 1 from orders.inbox_messages where id = ${id}`).length === 1,
    { message: `event ${id} stored`, timeoutMs },
  );

const consumerInfo = (sales: FakeSales) =>
  sales.jsm.consumers.info(sales.stream, ORDERS_INBOX.consumerName);

describe("a message with malformed headers", async () => {
  const sales = await startFakeSales();
  const orders = await startOrdersUnderTest(sales);

  test("is parked, saying its headers could not be read, and the messages after it still flow", async () => {
    await publishWithRawHeaders(
      `${sales.namespace}.sales.product.created.v1`,
      MALFORMED_HEADERS,
      "not an event",
    );
    const after = await sales.publishProduct("created", productSnapshot());

    const parked = await waitFor(
      async () =>
        (
          await orders.sql<
            { status: string; headers: Record<string, string>; rawBody: Buffer }[]
          >`select status, headers, raw_body from orders.inbox_messages where stream_sequence = 1`
        )[0],
      { message: "the malformed message stored" },
    );
    expect(parked.status).toBe("parked");
    expect(Object.keys(parked.headers)).toEqual([UNREADABLE_HEADERS]);
    expect(parked.headers[UNREADABLE_HEADERS]).not.toBe("");
    expect(parked.rawBody.toString()).toBe("not an event");
    await waitFor(
      async () =>
        (
          await orders.sql`
          select 1 from orders.inbox_messages where id = ${after.id} and status = 'processed'`
        ).length === 1,
      { message: "the next message processed" },
    );
  });
});

describe("a consumer whose last acked message has malformed headers", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("still starts consuming", async () => {
    const event = productEvent("created", productSnapshot());
    await publishWithRawHeaders(
      `${sales.namespace}.${event.type}`,
      MALFORMED_HEADERS,
      JSON.stringify(event),
    );
    const first = startConsumer(sales, database.sql);
    await waitFor(async () => (await consumerInfo(sales)).ack_floor.stream_seq === 1, {
      message: "the message stored and acked",
    });
    await first.stop();

    const second = startConsumer(sales, database.sql);
    const next = await sales.publishProduct("created", productSnapshot());
    await waitFor(
      async () =>
        (await database.sql`select 1 from orders.inbox_messages where id = ${next.id}`).length ===
        1,
      { message: "the next message stored by the restarted consumer" },
    );
    await second.stop();
  });
});

describe("a consumer another Orders instance deleted and added again", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  const stored = (id: string) => waitUntilStored(database.sql, id, { timeoutMs: 20_000 });

  test("is pulled from again at once", async () => {
    startConsumer(sales, database.sql, { checkIntervalMs: 100 });
    await stored((await sales.publishProduct("created", productSnapshot())).id);

    // What the other instance does when it finds the stream lost messages (both looked at once).
    const { config } = await consumerInfo(sales);
    await sales.jsm.consumers.delete(sales.stream, ORDERS_INBOX.consumerName).catch((error) => {
      // nats-server 2.9.10 may say so while writing the consumer's state; it is gone anyway.
      if (!String(error).includes("directory not empty")) throw error;
    });
    await sales.jsm.consumers.add(sales.stream, config);

    await stored((await sales.publishProduct("created", productSnapshot())).id);
  });
});

describe("a stream deleted under the consumer", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  const stored = (id: string) => waitUntilStored(database.sql, id);

  test("leaves it not consuming (so /ready says so) until the stream is back, then it consumes again", async () => {
    const { consumer } = startConsumer(sales, database.sql, { checkIntervalMs: 100 });
    await stored((await sales.publishProduct("created", productSnapshot())).id);
    expect(consumer.isConsuming).toBe(true);

    const { config } = await sales.jsm.streams.info(sales.stream);
    await sales.jsm.streams.delete(sales.stream);
    await waitFor(() => !consumer.isConsuming, { message: "not consuming without the stream" });

    await ensureStream(sales.jsm, {
      name: config.name,
      subjects: config.subjects,
      maxAgeMs: 60 * 60_000,
      duplicateWindowMs: 120_000,
    });
    await stored((await sales.publishProduct("created", productSnapshot())).id);
    expect(consumer.isConsuming).toBe(true);
  });
});

describe("a consumer whose last acked message is an event the inbox received at another sequence", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  const stored = async (id: string) =>
    (await database.sql`select 1 from orders.inbox_messages where id = ${id}`).length === 1;

  test("is made anew and reads the stream again: the new event it had passed is stored", async () => {
    const old = await sales.publishProduct("created", productSnapshot());
    const first = startConsumer(sales, database.sql);
    await waitFor(async () => (await consumerInfo(sales)).ack_floor.stream_seq === 1, {
      message: "the first event stored and acked",
    });
    await first.stop();

    // As a broker that lost acked messages leaves it once Sales has put them back: a new event
    // reached the stream first, at a sequence the consumer's state says it had acked, and the
    // old event sits at the ack floor, at a sequence other than the one it was received at.
    const skipped = await sales.publishProduct("created", productSnapshot());
    await sales.publishProduct("created", productSnapshot(), { id: old.id, msgID: "put back" });
    const nc = await connectNats(testEnv.NATS_URL);
    try {
      const consumer = await jetstream(nc).consumers.get(sales.stream, ORDERS_INBOX.consumerName);
      for await (const message of await consumer.fetch({ max_messages: 2, expires: 5_000 })) {
        await message.ackAck();
      }
    } finally {
      await nc.close();
    }
    expect((await consumerInfo(sales)).ack_floor.stream_seq).toBe(3);
    expect(await stored(skipped.id)).toBe(false);

    const logs = captureLogger("orders");
    startConsumer(sales, database.sql, { log: logs.log });
    await waitFor(() => stored(skipped.id), { message: "the passed event stored" });
    expect(logs.lines.map((line) => line.msg)).toContain(
      "the stream, or the inbox, no longer holds the last message this consumer acked (one of them lost data, or was restored from an older copy); reading the stream again from its start (the inbox drops what it has)",
    );
  });
});

describe("a consumer whose last acked message is a later copy of a stored event", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("is kept: the inbox knows the copy's sequence, and the stream is not read again", async () => {
    const event = await sales.publishProduct("created", productSnapshot());
    // Sent again past the duplicate window (`outbox:republish`): a copy at the next sequence.
    await sales.publishProduct("created", productSnapshot(), { id: event.id, msgID: "copy" });
    const first = startConsumer(sales, database.sql);
    await waitFor(async () => (await consumerInfo(sales)).ack_floor.stream_seq === 2, {
      message: "both copies stored and acked",
    });
    await first.stop();
    const [row] = await database.sql<{ streamSequence: number; lastStreamSequence: number }[]>`
      select stream_sequence, last_stream_sequence from orders.inbox_messages
      where id = ${event.id}`;
    expect(row).toEqual({ streamSequence: 1, lastStreamSequence: 2 });
    const { created } = await consumerInfo(sales);

    const logs = captureLogger("orders");
    startConsumer(sales, database.sql, { log: logs.log });
    const next = await sales.publishProduct("created", productSnapshot());
    await waitFor(
      async () =>
        (await database.sql`select 1 from orders.inbox_messages where id = ${next.id}`).length ===
        1,
      { message: "the next event stored" },
    );
    expect((await consumerInfo(sales)).created).toBe(created);
    expect(logs.lines.some((line) => line.msg?.startsWith("the stream lost messages"))).toBe(false);
  });
});

describe("messages the stream removed before the consumer read them", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("are reported as an error naming them and the way back, and counted", async () => {
    const before = [];
    for (let i = 0; i < 3; i++)
      before.push(await sales.publishProduct("created", productSnapshot()));
    const first = startConsumer(sales, database.sql);
    await waitFor(async () => (await consumerInfo(sales)).ack_floor.stream_seq === 3, {
      message: "the first messages stored and acked",
    });
    await first.stop();

    // Orders is down while a limit on the stream drops messages it never read (4–8).
    for (let i = 0; i < 10; i++) await sales.publishProduct("created", productSnapshot());
    const { config } = await sales.jsm.streams.info(sales.stream);
    await sales.jsm.streams.update(sales.stream, { ...config, max_msgs: 5 });

    const logs = captureLogger("orders");
    const removed: number[] = [];
    startConsumer(sales, database.sql, {
      log: logs.log,
      metrics: { stored: () => {}, removedUnread: (count) => void removed.push(count) },
    });
    const report = await waitFor(
      () => logs.lines.find((line) => line.msg?.startsWith("the stream removed messages")),
      { message: "the removal reported" },
    );
    expect(report.level).toBe("error");
    expect([report.fromSequence, report.toSequence, report.count]).toEqual([4, 8, 5]);
    expect(report.msg).toContain("bun run outbox:republish --sequences 4-8");
    expect(removed).toEqual([5]);
    await waitFor(
      async () => (await database.sql`select 1 from orders.inbox_messages`).length === 3 + 5,
      { message: "the messages still on the stream stored" },
    );
  });
});

describe("messages removed before a consumer that had read nothing yet was delivered any", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("are reported too", async () => {
    await sales.jsm.consumers.add(sales.stream, {
      durable_name: ORDERS_INBOX.consumerName,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${sales.namespace}.sales.>`,
    });
    for (let i = 0; i < 8; i++) await sales.publishProduct("created", productSnapshot());
    const { config } = await sales.jsm.streams.info(sales.stream);
    await sales.jsm.streams.update(sales.stream, { ...config, max_msgs: 3 });

    const logs = captureLogger("orders");
    startConsumer(sales, database.sql, { log: logs.log });
    const report = await waitFor(
      () => logs.lines.find((line) => line.msg?.startsWith("the stream removed messages")),
      { message: "the removal reported" },
    );
    expect([report.fromSequence, report.toSequence]).toEqual([1, 5]);
  });
});

describe.each([
  [
    "another ack and deliver policy",
    { ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.New },
  ],
  ["no filter", { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All }],
])("a consumer of Orders' name made by hand with %s", async (_, made) => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("is replaced by one that acks each message of Sales' subjects, and every message is stored", async () => {
    for (let i = 0; i < 3; i++) await sales.publishProduct("created", productSnapshot());
    await sales.jsm.consumers.add(sales.stream, {
      durable_name: ORDERS_INBOX.consumerName,
      ...made,
    });
    startConsumer(sales, database.sql);
    await waitFor(
      async () => (await database.sql`select 1 from orders.inbox_messages`).length === 3,
      { message: "the messages published before stored" },
    );
    expect((await consumerInfo(sales)).config).toMatchObject({
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${sales.namespace}.${ORDERS_INBOX.subjects}`,
    });
  });
});

describe("a consumer of Orders' name that another module's inbox made", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  await database.sql.unsafe(`
    create schema shipping;
    create table shipping.inbox_messages (like orders.inbox_messages including all)`);
  const shippingInbox = { ...ORDERS_INBOX, schema: "shipping" };
  const count = async (schema: string) =>
    (
      await database.sql`select count(*)::int as n from ${database.sql(`${schema}.inbox_messages`)}`
    )[0]?.n;

  test("is left to that module: this one says why and consumes nothing, and nothing is lost", async () => {
    await sales.publishProduct("created", productSnapshot());
    startConsumer(sales, database.sql, { inbox: shippingInbox });
    await waitFor(async () => (await count("shipping")) === 1, {
      message: "the first message in Shipping's inbox",
    });

    const logs = captureLogger("orders");
    startConsumer(sales, database.sql, { log: logs.log });
    await waitFor(() => logs.lines.some((line) => line.msg?.includes("belongs to another inbox")), {
      message: "Orders saying the consumer is another inbox's",
    });
    for (let i = 0; i < 6; i++) await sales.publishProduct("created", productSnapshot());
    await waitFor(async () => (await count("shipping")) === 7, {
      message: "every message in Shipping's inbox",
    });
    expect(await count("orders")).toBe(0);
    expect((await consumerInfo(sales)).config.description).toBe(consumerDescription(shippingInbox));
    const saidWhy = logs.lines.filter((line) => line.msg?.includes("belongs to another inbox"));
    expect(saidWhy).toHaveLength(1);
    expect(saidWhy[0]).toMatchObject({
      level: "error",
      description: "stored in shipping.inbox_messages",
    });
  });
});

describe("a consumer of Orders' name made before consumers named their inbox, or described by hand", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("is taken over: it gets Orders' description, and is read on from where it was", async () => {
    await sales.publishProduct("created", productSnapshot());
    const made = await sales.jsm.consumers.add(sales.stream, {
      durable_name: ORDERS_INBOX.consumerName,
      description: "an operator's note",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${sales.namespace}.${ORDERS_INBOX.subjects}`,
    });
    startConsumer(sales, database.sql);
    await waitFor(
      async () => (await database.sql`select 1 from orders.inbox_messages`).length === 1,
      { message: "the message stored" },
    );
    const info = await consumerInfo(sales);
    expect(info.config.description).toBe("stored in orders.inbox_messages");
    expect(info.created).toBe(made.created);
  });
});

describe("a stream of Sales' name whose subjects do not take Orders' filter", async () => {
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  const names = natsNames(`t${uniqueId()}`);
  const nc = await connectNats(testEnv.NATS_URL);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: names.stream(ORDERS_INBOX.stream),
    subjects: [names.subject("shipping.>")],
    description: "published from shipping.outbox_messages",
  });
  afterTests(async () => {
    await jsm.streams.delete(names.stream(ORDERS_INBOX.stream));
    await nc.close();
  });

  test("is tried again every second, and said once", async () => {
    let creates = 0;
    const counting = interceptRequests(nc, (subject, send) => {
      if (subject.includes(".CONSUMER.") && subject.includes("CREATE")) creates++;
      return send();
    });
    const logs = captureLogger("orders");
    const consumer = startIntegrationEventConsumer({
      ...CONSUMER_SETTINGS,
      sql: database.sql,
      nats: linkTo(counting),
      names,
      log: logs.log,
    });
    try {
      await waitFor(() => creates >= 3, { message: "three attempts", timeoutMs: 10_000 });
      expect(consumer.isConsuming).toBe(false);
    } finally {
      await consumer.stop();
    }
    const saidWhy = logs.lines.filter((line) => line.msg === "cannot consume");
    expect(saidWhy).toHaveLength(1);
    expect(saidWhy[0]?.err).toContain("subset");
  });
});

describe("a consumer delete the server answers with an error after it removed the consumer", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("still replaces the consumer, and says so", async () => {
    await sales.publishProduct("created", productSnapshot());
    await sales.jsm.consumers.add(sales.stream, {
      durable_name: ORDERS_INBOX.consumerName,
      ack_policy: AckPolicy.All,
    });
    // As nats-server 2.9.10 may answer when it writes the consumer's state meanwhile.
    const nc = await connectNats(testEnv.NATS_URL);
    const failingDeletes = interceptRequests(nc, async (subject, send) => {
      const answer = await send();
      if (subject.includes(".CONSUMER.DELETE.")) throw new Error("directory not empty");
      return answer;
    });
    const logs = captureLogger("orders");
    const consumer = startIntegrationEventConsumer({
      ...CONSUMER_SETTINGS,
      sql: database.sql,
      nats: linkTo(failingDeletes),
      names: natsNames(sales.namespace),
      log: logs.log,
    });
    afterTests(async () => {
      await consumer.stop();
      await nc.close();
    });
    await waitFor(
      async () => (await database.sql`select 1 from orders.inbox_messages`).length === 1,
      { message: "the message stored through the replaced consumer" },
    );
    expect((await consumerInfo(sales)).config.ack_policy).toBe(AckPolicy.Explicit);
    expect(logs.lines.some((line) => line.msg?.includes("replaced it"))).toBe(true);
    expect(logs.lines.some((line) => line.msg === "cannot consume")).toBe(false);
  });
});

describe("an event Orders has no handler for, and a message that is not an event", async () => {
  const sales = await startFakeSales();
  const database = await useTestDatabase();
  await migrate(database.sql, MIGRATIONS);

  test("are stored, and each is logged and reported as what it is", async () => {
    const logs = captureLogger("orders");
    const batches: Parameters<
      NonNullable<IntegrationEventConsumerOptions["metrics"]>["stored"]
    >[0][] = [];
    startConsumer(sales, database.sql, {
      log: logs.log,
      handles: (type) => type !== "sales.product.teleported.v1",
      metrics: { stored: (batch) => void batches.push(batch), removedUnread() {} },
    });
    const teleported = {
      ...productEvent("created", productSnapshot()),
      type: "sales.product.teleported.v1",
    };
    const again = { ...teleported, id: Bun.randomUUIDv7() };
    await sales.publishRaw(teleported.type, JSON.stringify(teleported), teleported.id);
    await sales.publishRaw("sales.product.created.v1", "not an event");
    await sales.publishRaw(again.type, JSON.stringify(again), again.id);
    const rows = await waitFor(
      async () => {
        const stored = await database.sql<{ id: string; status: string }[]>`
          select id, status from orders.inbox_messages order by stream_sequence`;
        return stored.length === 3 ? [...stored] : undefined;
      },
      { message: "the three messages stored" },
    );
    expect(rows.map((row) => row.status)).toEqual(["ignored", "parked", "ignored"]);

    const ignored = batches.flatMap((batch) => batch.ignored);
    const parked = batches.flatMap((batch) => batch.parked);
    expect(ignored).toEqual([
      { id: teleported.id, type: teleported.type },
      { id: again.id, type: again.type },
    ]);
    expect(parked).toMatchObject([{ id: rows[1]?.id, streamSequence: 2 }]);
    expect(parked[0]?.error).toContain("not a valid event");
    // Once per type, not once per event.
    const ignoredLines = logs.lines.filter((line) =>
      String(line.msg).includes("stored as ignored"),
    );
    expect(ignoredLines).toEqual([
      expect.objectContaining({
        level: "info",
        eventId: teleported.id,
        type: teleported.type,
        msg: expect.stringContaining("Orders has no handler for it"),
      }),
    ]);
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        level: "error",
        inboxId: rows[1]?.id,
        streamSequence: 2,
        msg: expect.stringContaining("message parked: not a valid event"),
      }),
    );
  });
});
