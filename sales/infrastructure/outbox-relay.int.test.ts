import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { SALES_STREAM, SALES_SUBJECTS } from "contracts";
import {
  connectNats,
  ensureStream,
  migrate,
  type NatsLink,
  natsNames,
  pipelineWrites,
  type Sql,
} from "shared";
import {
  type OutboxRelayOptions,
  queueForRepublish,
  REFILL_MAX_ATTEMPTS,
  REQUEUED_BEFORE,
  startOutboxRelay,
} from "shared/outbox";
import { startNatsServer } from "shared/processes/nats-server.ts";
import { afterTests } from "shared/testing/cleanup.ts";
import { interceptRequests, linkTo } from "shared/testing/nats-connections.ts";
import { captureLogger, silentLogger } from "shared/testing/silent-logger.ts";
import { deleteStreams, readStreamMessages } from "shared/testing/stream-messages.ts";
import { createTestDatabase, testEnv, uniqueId, waitFor } from "shared/testing/test-environment.ts";
import { MIGRATIONS, type SalesProcess } from "../main.ts";
import { unsentProductCreated } from "../testing/integration-events.ts";
import { startSalesUnderTest } from "../testing/sales-under-test.ts";
import { createOutboxEventBus, SALES_OUTBOX } from "./outbox.ts";

type OutboxRow = {
  id: string;
  publishedAt: Date | null;
  parkedAt: Date | null;
  streamSequence: number | null;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
};

/** Writes `count` created events straight into the outbox, in one transaction. */
async function writeOutboxRows(
  sales: { sql: Sql },
  count: number,
  description: string | null = null,
) {
  const ids: string[] = [];
  await sales.sql.begin(async (tx) => {
    const writes = pipelineWrites(tx);
    const bus = createOutboxEventBus(writes, {
      newEventId: () => {
        const id = Bun.randomUUIDv7();
        ids.push(id);
        return id;
      },
      headers: {},
    });
    for (let i = 0; i < count; i++) {
      bus.publish(unsentProductCreated({ sku: `SKU-${i}`, description, amount: i }));
    }
    await writes.settled();
  });
  return ids;
}

async function rowsById(sales: { sql: Sql }, ids: string[]) {
  return sales.sql<OutboxRow[]>`select * from sales.outbox_messages where id = any(${ids}::uuid[])`;
}

async function messagesWithIds(sales: SalesProcess, ids: string[]) {
  const wanted = new Set(ids);
  const messages = await readStreamMessages(testEnv.NATS_URL, sales.stream.spec.name);
  return messages.filter((m) => wanted.has(m.headers["Nats-Msg-Id"] ?? ""));
}

describe("with NATS up", async () => {
  const relayLog = captureLogger("sales");
  const sales = await startSalesUnderTest(
    { OUTBOX_POLL_MS: "60000", OUTBOX_BATCH_SIZE: "50" },
    { log: relayLog.log },
  );
  await waitFor(() => sales.stream.isReady, { message: "stream ready" });

  test("a wake-up after commit publishes without waiting for the 60 s poll", async () => {
    const response = await sales.app.request("/products", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      },
      body: JSON.stringify({ sku: "WAKE-1", name: "Wake", price: { amount: 1, currency: "EUR" } }),
    });
    expect(response.status).toBe(201);
    const [row] = await sales.sql<{ id: string }[]>`select id from sales.outbox_messages`;
    const ids = [row?.id ?? ""];
    const [message] = await waitFor(
      async () => (await messagesWithIds(sales, ids)).at(0) && messagesWithIds(sales, ids),
      {
        timeoutMs: 20_000,
        message: "the event on the stream",
      },
    );
    expect(message?.headers.traceparent).toBe(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    // The message is on the stream a moment before the relay commits the row's outcome.
    const published = await waitFor(
      async () => (await rowsById(sales, ids)).find((row) => row.streamSequence !== null),
      { timeoutMs: 20_000, message: "the outbox row marked published" },
    );
    expect(published.streamSequence).toBe(message?.sequence ?? -1);
  });

  test("two relays on the same outbox publish each row once", async () => {
    const second = captureLogger("second-relay");
    const otherRelay = startOutboxRelay({
      sql: sales.sql,
      nats: sales.nats,
      names: sales.names,
      outbox: SALES_OUTBOX,
      log: second.log,
      pollMs: 60_000,
      batchSize: 50,
    });
    const ids = await writeOutboxRows(sales, 1_000);
    await sales.sql.notify(SALES_OUTBOX.channel, "");
    await waitFor(async () => (await rowsById(sales, ids)).every((row) => row.publishedAt), {
      timeoutMs: 20_000,
      message: "all rows published",
    });
    await otherRelay.stop();

    const publishedBy = (lines: typeof second.lines) =>
      lines.filter(
        (line) => line.msg === "event published" && ids.includes(line.eventId as string),
      );
    const first = publishedBy(relayLog.lines);
    const other = publishedBy(second.lines);
    expect(first.length + other.length).toBe(ids.length);
    expect([...first, ...other].every((line) => line.duplicate === false)).toBe(true);
    const messages = await messagesWithIds(sales, ids);
    expect(messages).toHaveLength(ids.length);
    expect(new Set(messages.map((m) => m.headers["Nats-Msg-Id"])).size).toBe(ids.length);
  });

  test("re-sending a published row (crash between PubAck and mark) is a duplicate, not a second message", async () => {
    const ids = await writeOutboxRows(sales, 1);
    sales.relay.wake();
    const [first] = await waitFor(async () => {
      const rows = await rowsById(sales, ids);
      return rows[0]?.publishedAt ? rows : undefined;
    });
    await sales.sql`update sales.outbox_messages set published_at = null, stream_sequence = null where id = ${ids[0] ?? ""}`;
    expect(await sales.relay.relayOnce()).toBe(1);

    const [again] = await rowsById(sales, ids);
    expect(again?.streamSequence).toBe(first?.streamSequence ?? -1);
    const duplicateLine = relayLog.lines.findLast((line) => line.eventId === ids[0]);
    expect(duplicateLine).toMatchObject({ msg: "event published", duplicate: true });
    expect(await messagesWithIds(sales, ids)).toHaveLength(1);
  });

  test("a row larger than the server accepts is parked and does not block the others", async () => {
    const [huge] = await writeOutboxRows(sales, 1, "x".repeat(1_100_000));
    const others = await writeOutboxRows(sales, 3);
    sales.relay.wake();
    await waitFor(async () => (await rowsById(sales, others)).every((row) => row.publishedAt), {
      message: "the other rows published",
    });
    const [parked] = await rowsById(sales, [huge ?? ""]);
    expect(parked).toMatchObject({ publishedAt: null, attempts: 1 });
    expect(parked?.parkedAt).toBeInstanceOf(Date);
    expect(parked?.lastError).toContain("max_payload");
    expect(await messagesWithIds(sales, [huge ?? ""])).toHaveLength(0);
  });

  test("a row whose body fits the server's max_payload only without its headers is parked too", async () => {
    const bodyBytes = async (id = "") => {
      const [row] = await sales.sql<{ bytes: number }[]>`
        select octet_length(payload::text) as bytes from sales.outbox_messages where id = ${id}`;
      return row?.bytes ?? 0;
    };
    const emptyBytes = await bodyBytes((await writeOutboxRows(sales, 1, ""))[0]);
    const maxPayload = (await sales.nats.connected).info?.max_payload ?? 0;
    expect(maxPayload).toBeGreaterThan(emptyBytes);
    // The body alone is 10 bytes short of the limit; with its headers it is over.
    const filler = "x".repeat(maxPayload - emptyBytes - 10);
    const [nearlyHuge] = await writeOutboxRows(sales, 1, filler);
    expect(await bodyBytes(nearlyHuge)).toBe(maxPayload - 10);

    sales.relay.wake();
    const [parked] = await waitFor(
      async () => {
        const rows = await rowsById(sales, [nearlyHuge ?? ""]);
        return rows[0]?.parkedAt ? rows : undefined;
      },
      { message: "the row parked" },
    );
    expect(parked).toMatchObject({ publishedAt: null, attempts: 1 });
    expect(parked?.lastError).toContain("max_payload");
    expect(await messagesWithIds(sales, [nearlyHuge ?? ""])).toHaveLength(0);
  });
});

describe("with NATS down", async () => {
  const server = await startNatsServer();
  await server.stop();
  afterTests(() => server.dispose());
  const sales = await startSalesUnderTest({ NATS_URL: server.url, OUTBOX_POLL_MS: "20" });

  test("writes succeed, rows wait untouched, and are published once, at once, when NATS is back", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await sales.app.request("/products", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          sku: `DOWN-${i}`,
          name: "Offline",
          price: { amount: 100, currency: "EUR" },
        }),
      });
      expect(response.status).toBe(201);
      created.push(((await response.json()) as { id: string }).id);
    }
    expect((await sales.app.request("/ready")).status).toBe(503);
    const pending = await sales.sql<OutboxRow[]>`select * from sales.outbox_messages`;
    expect(pending.map((row) => row.publishedAt)).toEqual([null, null, null, null, null]);

    await server.start();
    await waitFor(
      async () =>
        (await sales.sql`select 1 from sales.outbox_messages where published_at is null`).length ===
        0,
      {
        timeoutMs: 15_000,
        message: "every row published after NATS came back",
      },
    );
    const messages = await readStreamMessages(server.url, sales.stream.spec.name);
    expect(messages).toHaveLength(5);
    const rows = await sales.sql<OutboxRow[]>`select * from sales.outbox_messages`;
    expect(rows.map((row) => row.attempts)).toEqual([0, 0, 0, 0, 0]);
    const ids = (await sales.sql<{ id: string }[]>`select id from sales.outbox_messages`)
      .map((row) => row.id)
      .sort();
    expect(messages.map((m) => m.headers["Nats-Msg-Id"]).sort()).toEqual(ids);
    await waitFor(async () => (await sales.app.request("/ready")).status === 200, {
      message: "ready again",
    });
  });
});

test("the same publish error again within a minute is not logged again, under load", async () => {
  const logs = captureLogger("sales");
  // Two ways to fail, by turns: each batch fails both ways.
  let publishes = 0;
  const { database, relay, dispose } = await relayOnOwnStream(
    (nc) =>
      linkTo(
        interceptRequests(nc, () =>
          Promise.reject(new Error(publishes++ % 2 ? "insufficient resources" : "timeout")),
        ),
      ),
    { retryDelay: () => 0, log: logs.log },
  );
  try {
    await relay.stop(); // relayOnce only
    for (const _ of [1, 2, 3]) {
      await writeOutboxRows(database, 2);
      await relay.relayOnce();
    }
    const failed = logs.lines.filter((line) => String(line.msg).includes("publish failed"));
    expect(failed.map((line) => line.err).sort()).toEqual(["insufficient resources", "timeout"]);
    const [row] = await database.sql<{ attempts: number }[]>`
      select max(attempts) as attempts from sales.outbox_messages`;
    expect(row?.attempts).toBe(3); // every failure still counted
  } finally {
    await dispose();
  }
});

test("a row that failed to publish waits the retry delay of its attempt number", async () => {
  const { database, relay, dispose } = await relayOnOwnStream(
    (nc) => linkTo(refusingPublishes(nc)),
    { retryDelay: (attempts) => attempts * 3_600_000 },
  );
  try {
    await relay.stop(); // relayOnce only
    const [id] = (await writeOutboxRows(database, 1)) as [string];
    const secondsUntilDue = async (attempts: number) => {
      await relay.relayOnce();
      expect((await rowsById(database, [id]))[0]?.attempts).toBe(attempts);
      const [row] = await database.sql<{ seconds: number }[]>`
        select extract(epoch from next_attempt_at - now())::float8 as seconds
        from sales.outbox_messages where id = ${id}`;
      return row?.seconds ?? 0;
    };

    expect(await secondsUntilDue(1)).toBeWithin(3_500, 3_601);
    await database.sql`update sales.outbox_messages set next_attempt_at = now()`;
    expect(await secondsUntilDue(2)).toBeWithin(7_100, 7_201);

    // A row the stream check re-queued (dated 1970 by its old sequence) keeps its place.
    const requeuedAt = new Date(7);
    await database.sql`update sales.outbox_messages set next_attempt_at = ${requeuedAt}`;
    await relay.relayOnce();
    const [row] = await rowsById(database, [id]);
    expect(row?.attempts).toBe(3);
    expect(row?.nextAttemptAt.getTime()).toBe(requeuedAt.getTime());
  } finally {
    await dispose();
  }
});

/**
 * A relay of its own on a fresh database and a stream in a namespace of its own, reaching NATS
 * through the link `makeLink` builds on a real connection: for tests that need the link to lie.
 */
async function relayOnOwnStream(
  makeLink: (nc: NatsConnection) => NatsLink,
  options: Partial<Pick<OutboxRelayOptions, "retryDelay" | "onUnansweredPublish" | "log">> = {},
) {
  const database = await createTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  const names = natsNames(`t${uniqueId()}`);
  const stream = names.stream(SALES_STREAM);
  const nc = await connectNats(testEnv.NATS_URL);
  await ensureStream(await jetstreamManager(nc), {
    name: stream,
    subjects: [names.subject(SALES_SUBJECTS)],
    maxAgeMs: 3_600_000,
    duplicateWindowMs: 120_000,
  });
  const relay = startOutboxRelay({
    sql: database.sql,
    nats: makeLink(nc),
    names,
    outbox: SALES_OUTBOX,
    log: silentLogger,
    pollMs: 3_600_000,
    batchSize: 10,
    ...options,
  });
  return {
    database,
    stream,
    relay,
    async dispose() {
      await relay.stop();
      await nc.close();
      await deleteStreams(testEnv.NATS_URL, [stream]);
      await database.drop();
    },
  };
}

/** A connection whose publishes the server refuses, as one out of resources would. */
const refusingPublishes = (nc: NatsConnection) =>
  interceptRequests(nc, () => Promise.reject(new Error("insufficient resources")));

test("a batch acked across a reconnect is not marked published; it goes again, as a duplicate", async () => {
  // Every publish request "reconnects" the link, as if the server had gone and come back.
  let generation = 1;
  let reconnecting = true;
  const { database, stream, relay, dispose } = await relayOnOwnStream(
    (nc) => {
      const connection = interceptRequests(nc, (_subject, send) => {
        if (reconnecting) generation++;
        return send();
      });
      return Object.defineProperty(linkTo(connection), "generation", { get: () => generation });
    },
    { retryDelay: () => 0 },
  );
  try {
    const [id] = (await writeOutboxRows(database, 1)) as [string];
    relay.wake();
    const retried = await waitFor(async () => {
      const [row] = await rowsById(database, [id]);
      return row?.lastError ? row : undefined;
    });
    expect(retried).toMatchObject({ publishedAt: null, streamSequence: null, attempts: 0 });
    expect(retried.lastError).toContain("reconnected");

    reconnecting = false;
    relay.wake();
    const published = await waitFor(async () => (await rowsById(database, [id]))[0]?.publishedAt);
    expect(published).toBeInstanceOf(Date);
    const messages = await readStreamMessages(testEnv.NATS_URL, stream);
    expect(messages.map((message) => message.headers["Nats-Msg-Id"])).toEqual([id]);
  } finally {
    await dispose();
  }
});

/**
 * One batch by `relayOnce` on a link whose `field` reads `first` at the batch's first look and
 * `later` from then on (the connection changed while it claimed): nothing must go out, and its
 * row must stay as it was.
 */
async function expectNothingSent(
  field: "isConnected" | "generation",
  first: unknown,
  later: unknown,
) {
  let reads = 0;
  const { database, stream, relay, dispose } = await relayOnOwnStream((nc) =>
    Object.defineProperty(linkTo(nc), field, { get: () => (reads++ === 0 ? first : later) }),
  );
  try {
    await relay.stop(); // only relayOnce, so the batch's first look at the link is the one above
    const [id] = (await writeOutboxRows(database, 1)) as [string];
    reads = 0;
    expect(await relay.relayOnce()).toBe(0);
    const [row] = await rowsById(database, [id]);
    expect(row).toMatchObject({ publishedAt: null, attempts: 0, lastError: null });
    // Had it gone out, it could sit ahead of the messages the stream check puts back.
    expect(await readStreamMessages(testEnv.NATS_URL, stream)).toEqual([]);
  } finally {
    await dispose();
  }
}

test("a batch that began before NATS came back sends nothing until the stream was checked", () =>
  expectNothingSent("isConnected", false, true));

test("a batch whose claim waited across a reconnect sends nothing on the connection not checked yet", () =>
  expectNothingSent("generation", 1, 2));

test("a batch that finds the stream check re-queueing is sent again rather than waiting for it", async () => {
  const { database, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  const check = await database.sql.reserve();
  try {
    const [id] = (await writeOutboxRows(database, 1)) as [string];
    await check`begin`;
    await check`select pg_advisory_xact_lock(hashtext(${SALES_OUTBOX.marksLock}))`;
    expect(await relay.relayOnce()).toBe(0);
    const [row] = await rowsById(database, [id]);
    expect(row).toMatchObject({ publishedAt: null, attempts: 0 });
    expect(row?.lastError).toContain("re-queueing");

    await check`commit`;
    expect(await relay.relayOnce()).toBe(1);
  } finally {
    check.release();
    await dispose();
  }
});

test("a full batch that fails to publish waits for the next poll, re-queued rows included", async () => {
  let publishes = 0;
  let connected = false; // until the rows are in place: the loop's first run must find nothing
  const { database, relay, dispose } = await relayOnOwnStream((nc) => {
    const refusing = interceptRequests(nc, () => {
      publishes++;
      return Promise.reject(new Error("insufficient resources"));
    });
    return Object.defineProperty(linkTo(refusing), "isConnected", { get: () => connected });
  });
  try {
    // A batch's worth of rows the stream check re-queued: they stay due when they fail.
    const ids = await writeOutboxRows(database, 10);
    await database.sql`
      update sales.outbox_messages
      set next_attempt_at = 'epoch'::timestamptz + stream_position * interval '1 microsecond'
      from (select id, row_number() over (order by id) as stream_position
            from sales.outbox_messages) as requeued
      where outbox_messages.id = requeued.id`;
    connected = true;
    relay.wake();
    await waitFor(async () => (await rowsById(database, ids)).some((row) => row.attempts >= 1), {
      message: "the batch failed once",
    });
    // A loop that went again at once would have its next claim under way by now.
    await database.sql`select 1`;
    await database.sql`select 1`;
    await relay.stop();
    // Re-queued rows stop at their first failure (here the stream lookup before them): one
    // request, one attempt.
    const attempts = new Map((await rowsById(database, ids)).map((row) => [row.id, row.attempts]));
    expect(ids.map((id) => attempts.get(id))).toEqual(ids.map((_, i) => (i === 0 ? 1 : 0)));
    expect(publishes).toBe(1);
  } finally {
    await dispose();
  }
});

test("a batch whose acks cannot be recorded still records the rows that failed", async () => {
  const { database, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  const check = await database.sql.reserve();
  try {
    const [sent] = (await writeOutboxRows(database, 1)) as [string];
    const [huge] = (await writeOutboxRows(database, 1, "x".repeat(1_100_000))) as [string];
    await check`begin`;
    await check`select pg_advisory_xact_lock(hashtext(${SALES_OUTBOX.marksLock}))`;
    expect(await relay.relayOnce()).toBe(0);
    await check`commit`;

    const rows = new Map((await rowsById(database, [sent, huge])).map((row) => [row.id, row]));
    expect(rows.get(sent)).toMatchObject({ publishedAt: null, attempts: 0 });
    expect(rows.get(sent)?.lastError).toContain("re-queueing");
    expect(rows.get(huge)).toMatchObject({ publishedAt: null, attempts: 1 });
    expect(rows.get(huge)?.parkedAt).toBeInstanceOf(Date);
    expect(rows.get(huge)?.lastError).toContain("max_payload");
  } finally {
    check.release();
    await dispose();
  }
});

/** Marks rows as the stream check re-queues them: due from the epoch, in the given order. */
async function requeue(database: { sql: Sql }, ids: string[]) {
  await database.sql`
    update sales.outbox_messages
    set published_at = null, stream_sequence = null,
        next_attempt_at = 'epoch'::timestamptz + r.position * interval '1 microsecond'
    from unnest(${ids}::uuid[]) with ordinality as r(id, position)
    where outbox_messages.id = r.id`;
}

test("a row that finds no stream is not counted while the stream check takes that up, and counted once the check has found the stream in place", async () => {
  let checkTakesItUp = true;
  let reported = 0;
  const { database, stream, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc), {
    onUnansweredPublish: () => {
      reported++;
      return checkTakesItUp;
    },
  });
  await relay.stop(); // relayOnce only
  try {
    const [fresh, lost, elsewhere] = (await writeOutboxRows(database, 3)) as [
      string,
      string,
      string,
    ];
    await database.sql`update sales.outbox_messages set subject = 'elsewhere' where id = ${elsewhere}`;
    await deleteStreams(testEnv.NATS_URL, [stream]);
    const row = async (id: string) => (await rowsById(database, [id]))[0];

    expect(await relay.relayOnce()).toBe(0);
    expect(await row(fresh)).toMatchObject({ attempts: 0, publishedAt: null });
    expect((await row(fresh))?.lastError).toEndWith(
      "deleted?), or JetStream is unavailable; checking the stream again",
    );
    // Not a subject of the stream's: no stream of this outbox will take it, whatever the check does.
    expect(await row(elsewhere)).toMatchObject({ attempts: 1 });
    expect(reported).toBeGreaterThan(0);

    // The same for a row the check re-queued: the refill finds no stream to read its last sequence.
    await database.sql`update sales.outbox_messages set next_attempt_at = now() where id = ${fresh}`;
    await requeue(database, [lost]);
    expect(await relay.relayOnce()).toBe(0);
    expect(await row(lost)).toMatchObject({ attempts: 0 });
    expect((await row(lost))?.lastError).toBe(
      `stream ${stream} not found; checking the stream again`,
    );

    checkTakesItUp = false;
    expect(await relay.relayOnce()).toBe(0);
    expect(await row(lost)).toMatchObject({ attempts: 1, lastError: `stream ${stream} not found` });
  } finally {
    await dispose();
  }
});

test("new events wait while re-queued rows are unsent, so they never take a lost message's sequence", async () => {
  const { database, stream, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  try {
    const [lost] = (await writeOutboxRows(database, 1)) as [string];
    const [fresh] = (await writeOutboxRows(database, 1)) as [string];
    await requeue(database, [lost]);
    // A subject the stream does not capture: the re-queued row's publish fails.
    await database.sql`update sales.outbox_messages set subject = 'elsewhere' where id = ${lost}`;
    expect(await relay.relayOnce()).toBe(0);
    expect(await relay.relayOnce()).toBe(0);
    const rows = new Map((await rowsById(database, [lost, fresh])).map((row) => [row.id, row]));
    expect(rows.get(lost)).toMatchObject({ publishedAt: null, attempts: 2 });
    expect(rows.get(lost)?.nextAttemptAt.getTime()).toBeLessThan(Date.parse(REQUEUED_BEFORE));
    expect(rows.get(fresh)).toMatchObject({ publishedAt: null, attempts: 0 });

    await database.sql`
      update sales.outbox_messages set subject = type where id = ${lost}`;
    expect(await relay.relayOnce()).toBe(1);
    expect(await relay.relayOnce()).toBe(1);
    const sent = await rowsById(database, [lost, fresh]);
    const sequenceOf = (id: string) => sent.find((row) => row.id === id)?.streamSequence;
    expect([sequenceOf(lost), sequenceOf(fresh)]).toEqual([1, 2]);
    const messages = await readStreamMessages(testEnv.NATS_URL, stream);
    expect(messages.map((m) => m.headers["Nats-Msg-Id"])).toEqual([lost, fresh]);
  } finally {
    await dispose();
  }
});

test("a re-queued row another transaction holds is waited for, not skipped", async () => {
  const { database, stream, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  const other = await database.sql.reserve();
  try {
    const ids = await writeOutboxRows(database, 2);
    const [first, second] = ids as [string, string];
    await requeue(database, ids);
    // e.g. an outbox:republish under way, or an operator's select ... for update
    await other`begin`;
    await other`select id from sales.outbox_messages where id = ${first} for update`;
    const relayed = relay.relayOnce();
    await waitFor(
      async () =>
        (
          await database.sql`
            select from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`
        ).length > 0,
      { message: "the relay waiting for the row" },
    );
    await other`commit`;
    expect(await relayed).toBe(2);
    const messages = await readStreamMessages(testEnv.NATS_URL, stream);
    expect(messages.map((m) => m.headers["Nats-Msg-Id"])).toEqual([first, second]);
  } finally {
    other.release();
    await dispose();
  }
});

test("re-queued rows go in turn and stop at the first failure, so those after it keep their sequences", async () => {
  const { database, stream, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  try {
    const ids = await writeOutboxRows(database, 3);
    const [first, failing, last] = ids as [string, string, string];
    await requeue(database, ids);
    await database.sql`update sales.outbox_messages set subject = 'elsewhere' where id = ${failing}`;
    expect(await relay.relayOnce()).toBe(1);
    const rows = new Map((await rowsById(database, ids)).map((row) => [row.id, row]));
    expect(rows.get(failing)).toMatchObject({ publishedAt: null, attempts: 1 });
    expect(rows.get(last)).toMatchObject({ publishedAt: null, attempts: 0 });
    expect(rows.get(last)?.nextAttemptAt.getTime()).toBeLessThan(Date.parse(REQUEUED_BEFORE));

    await database.sql`update sales.outbox_messages set subject = type where id = ${failing}`;
    expect(await relay.relayOnce()).toBe(2);
    const messages = await readStreamMessages(testEnv.NATS_URL, stream);
    expect(messages.map((m) => m.headers["Nats-Msg-Id"])).toEqual([first, failing, last]);
  } finally {
    await dispose();
  }
});

test("one relay at a time sends re-queued rows", async () => {
  const { database, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  const otherRelay = await database.sql.reserve();
  try {
    const ids = await writeOutboxRows(database, 2);
    await requeue(database, ids);
    // Another relay sending the first of them holds the refill lock.
    await otherRelay`begin`;
    await otherRelay`select pg_advisory_xact_lock(hashtext(${SALES_OUTBOX.refillLock}))`;
    expect(await relay.relayOnce()).toBe(0);
    expect((await rowsById(database, ids)).map((row) => row.attempts)).toEqual([0, 0]);

    await otherRelay`commit`;
    expect(await relay.relayOnce()).toBe(2);
  } finally {
    otherRelay.release();
    await dispose();
  }
});

test("a re-queued row the stream remembers but no longer holds keeps its place, and holds back the rest", async () => {
  const { database, stream, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  try {
    const ids = await writeOutboxRows(database, 2);
    const [purged, next] = ids as [string, string];
    expect(await relay.relayOnce()).toBe(2);
    const nc = await connectNats(testEnv.NATS_URL);
    try {
      await (await jetstreamManager(nc)).streams.purge(stream);
    } finally {
      await nc.close();
    }
    await requeue(database, ids);
    const [fresh] = (await writeOutboxRows(database, 1)) as [string];

    // Within the duplicate window, JetStream takes the purged message's id for a copy.
    expect(await relay.relayOnce()).toBe(0);
    const rows = new Map((await rowsById(database, [...ids, fresh])).map((row) => [row.id, row]));
    expect(rows.get(purged)).toMatchObject({ publishedAt: null, attempts: 0 });
    expect(rows.get(purged)?.lastError).toContain("no longer holds its message");
    expect(rows.get(purged)?.nextAttemptAt.getTime()).toBeLessThan(Date.parse(REQUEUED_BEFORE));
    expect(rows.get(next)).toMatchObject({ publishedAt: null, lastError: null });
    expect(rows.get(fresh)).toMatchObject({ publishedAt: null, attempts: 0 });
  } finally {
    await dispose();
  }
});

test("a re-queued row that fails REFILL_MAX_ATTEMPTS times is parked, and new events go again", async () => {
  const { database, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc));
  await relay.stop(); // relayOnce only
  try {
    const [lost] = (await writeOutboxRows(database, 1)) as [string];
    const [fresh] = (await writeOutboxRows(database, 1)) as [string];
    await requeue(database, [lost]);
    await database.sql`
      update sales.outbox_messages
      set subject = 'elsewhere', attempts = ${REFILL_MAX_ATTEMPTS - 2}
      where id = ${lost}`;
    expect(await relay.relayOnce()).toBe(0);
    expect((await rowsById(database, [lost]))[0]?.parkedAt).toBeNull();

    expect(await relay.relayOnce()).toBe(0);
    const [parked] = await rowsById(database, [lost]);
    expect(parked?.parkedAt).toBeInstanceOf(Date);
    expect(parked?.attempts).toBe(REFILL_MAX_ATTEMPTS);
    expect(parked?.lastError).toContain("outbox:republish --id");
    expect(await relay.relayOnce()).toBe(1);
    expect((await rowsById(database, [fresh]))[0]?.publishedAt).toBeInstanceOf(Date);

    // Sent again on purpose, it starts afresh, in line with the others: no longer at their head.
    await queueForRepublish(database.sql, SALES_OUTBOX, { ids: [lost] });
    const [queued] = await rowsById(database, [lost]);
    expect(queued).toMatchObject({ parkedAt: null, attempts: 0 });
    expect(queued?.nextAttemptAt.getTime()).toBeGreaterThan(Date.parse(REQUEUED_BEFORE));
  } finally {
    await dispose();
  }
});

test("after a failed re-send, wake-ups do not hurry the next try: it waits its retry delay", async () => {
  const { database, relay, dispose } = await relayOnOwnStream((nc) => linkTo(nc), {
    retryDelay: () => 3_600_000,
  });
  try {
    const [lost] = (await writeOutboxRows(database, 1)) as [string];
    await requeue(database, [lost]);
    await database.sql`update sales.outbox_messages set subject = 'elsewhere' where id = ${lost}`;
    relay.wake();
    await waitFor(async () => ((await rowsById(database, [lost]))[0]?.attempts ?? 0) >= 1, {
      message: "the first re-send failed",
    });
    for (let i = 0; i < 5; i++) {
      relay.wake();
      await database.sql`select 1`;
    }
    await relay.stop();
    expect((await rowsById(database, [lost]))[0]?.attempts).toBe(1);
  } finally {
    await dispose();
  }
});
