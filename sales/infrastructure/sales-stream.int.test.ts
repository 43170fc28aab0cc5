import { afterAll, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { PRODUCT_CREATED_V1, SALES_STREAM, SALES_SUBJECTS } from "contracts";
import {
  connectNats,
  ensureStream,
  MAX_KEEP_MS,
  migrate,
  natsNames,
  pipelineWrites,
  streamInfo,
} from "shared";
import { DUPLICATE_WINDOW_MS, startStreamCheck } from "shared/outbox";
import { startNatsServer } from "shared/processes/nats-server.ts";
import { afterTests } from "shared/testing/cleanup.ts";
import { interceptRequests, linkTo } from "shared/testing/nats-connections.ts";
import { captureLogger, silentLogger } from "shared/testing/silent-logger.ts";
import { readStreamMessages } from "shared/testing/stream-messages.ts";
import { createTestDatabase, uniqueId, waitFor } from "shared/testing/test-environment.ts";
import * as v from "valibot";
import { SalesEnv } from "../env.ts";
import { MIGRATIONS } from "../main.ts";
import { unsentProductCreated } from "../testing/integration-events.ts";
import { startSalesUnderTest } from "../testing/sales-under-test.ts";
import { createOutboxEventBus, SALES_OUTBOX } from "./outbox.ts";

const server = await startNatsServer();
afterAll(() => server.dispose());
const logs = captureLogger("sales");
const sales = await startSalesUnderTest({ NATS_URL: server.url }, { log: logs.log });

async function createProducts(prefix: string, count: number) {
  for (let i = 0; i < count; i++) {
    const response = await sales.app.request("/products", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        sku: `${prefix}-${i}`,
        name: prefix,
        price: { amount: i, currency: "EUR" },
      }),
    });
    expect(response.status).toBe(201);
  }
}

const allPublished = async () =>
  (await sales.sql`select 1 from sales.outbox_messages where published_at is null`).length === 0;

async function streamIds() {
  const messages = await readStreamMessages(server.url, sales.stream.spec.name);
  return messages.map((m) => m.headers["Nats-Msg-Id"]).sort();
}

async function outboxIds() {
  return (await sales.sql<{ id: string }[]>`select id from sales.outbox_messages`)
    .map((r) => r.id)
    .sort();
}

/** `connection`, running `before` ahead of each message lookup (`STREAM.MSG.GET`) it sends. */
const beforeLookups = (connection: NatsConnection, before: () => Promise<unknown>) =>
  interceptRequests(connection, async (subject, send) => {
    if (subject.includes(".STREAM.MSG.GET.")) await before();
    return send();
  });

/** `connection`, whose stream info reports `lost` as a server does after damage it found. */
const reportingLost = (connection: NatsConnection, lost: number[]) =>
  interceptRequests(connection, async (subject, send) => {
    const answer = await send();
    if (!subject.includes(".STREAM.INFO.")) return answer;
    const info = answer.json<{ state: Record<string, unknown> }>();
    info.state.lost = { msgs: lost, bytes: 100 };
    return { ...answer, data: new TextEncoder().encode(JSON.stringify(info)) };
  });

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * An outbox and a stream of their own, with no relay: the test writes what the stream holds and
 * what the outbox recorded, then `check()` runs one stream check and returns the rows it left
 * unpublished (none of which anything publishes again).
 */
async function useOwnOutbox({ maxAgeMs = HOUR_MS } = {}) {
  const database = await createTestDatabase();
  await migrate(database.sql, MIGRATIONS);
  const names = natsNames(`t${uniqueId()}`);
  const spec = {
    name: names.stream(SALES_STREAM),
    subjects: [names.subject(SALES_SUBJECTS)],
    maxAgeMs,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
  };
  const nc = await connectNats(server.url);
  afterTests(async () => {
    await nc.close();
    await database.drop();
  });
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, spec);

  /** Records a row as published `ageMs` ago at `sequence`; returns its id. */
  async function record(sequence: number, { ageMs = 0, id = Bun.randomUUIDv7() } = {}) {
    await database.sql`
      insert into sales.outbox_messages (id, type, subject, payload, published_at, stream_sequence)
      values (${id}, ${PRODUCT_CREATED_V1}, ${PRODUCT_CREATED_V1}, '{}',
              now() - ${ageMs} * interval '1 millisecond', ${sequence})`;
    return id;
  }

  return {
    sql: database.sql,
    connection: nc,
    names,
    streamName: spec.name,
    record,
    async deleteStream() {
      await jsm.streams.delete(spec.name);
    },
    async streamExists() {
      return (await streamInfo(jsm, spec.name)) !== undefined;
    },
    /** Publishes `count` events and records each at the sequence JetStream gave it. */
    async publish(count: number, { ageMs = 0 } = {}) {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const id = Bun.randomUUIDv7();
        const ack = await jetstream(nc).publish(names.subject(PRODUCT_CREATED_V1), "{}", {
          msgID: id,
        });
        ids.push(await record(ack.seq, { ageMs, id }));
      }
      return ids;
    },
    /** Deletes the stream and adds it again, empty, as `nats stream rm` and `add` would. */
    async recreateStream() {
      await jsm.streams.delete(spec.name);
      await ensureStream(jsm, spec);
    },
    /** Empties the stream, keeping its last sequence: as if every message had expired. */
    async purgeStream() {
      await jsm.streams.purge(spec.name);
    },
    /** Keeps at most `maxMessages` in the stream, as an operator's `max_msgs` limit would. */
    async limitStream(maxMessages: number) {
      const { config } = await jsm.streams.info(spec.name);
      await jsm.streams.update(spec.name, { ...config, max_msgs: maxMessages });
    },
    /** Removes the message at `sequence`, as if it had expired. */
    async expire(sequence: number) {
      await jsm.streams.deleteMessage(spec.name, sequence);
    },
    async check({ connection = nc } = {}) {
      const check = startStreamCheck({
        sql: database.sql,
        nats: linkTo(connection),
        names,
        outbox: SALES_OUTBOX,
        log: silentLogger,
        maxAgeMs,
        onVerified: () => {},
      });
      try {
        await waitFor(() => check.isReady, { message: "the stream checked" });
      } finally {
        await check.stop();
      }
      const rows = await database.sql<{ id: string }[]>`
        select id from sales.outbox_messages where published_at is null`;
      return rows.map((row) => row.id).sort();
    },
  };
}

test("when NATS comes back with an empty store, Sales publishes everything again", async () => {
  await createProducts("BEFORE", 5);
  await waitFor(allPublished, { message: "published before the loss" });
  expect(await streamIds()).toEqual(await outboxIds());

  await server.stop("SIGKILL");
  await server.start({ emptyStore: true });
  await waitFor(async () => (await streamIds()).length === 5 && allPublished(), {
    timeoutMs: 15_000,
    message: "the lost messages published again",
  });
  expect(await streamIds()).toEqual(await outboxIds());
  expect(logs.lines.some((line) => line.msg?.startsWith("the stream lost messages"))).toBe(true);

  await createProducts("AFTER", 2);
  await waitFor(async () => (await streamIds()).length === 7, { message: "new products flow" });
});

test("a stream deleted behind Sales' back is noticed at the next check", async () => {
  const nc = await connectNats(server.url);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(sales.stream.spec.name);
  await nc.close();
  sales.stream.wake();
  await waitFor(async () => (await streamIds()).length === 7 && allPublished(), {
    message: "everything published again into the recreated stream",
  });
  expect(await streamIds()).toEqual(await outboxIds());
});

test("a stream deleted behind Sales' back is noticed by the next publish: made again at once, the failure not counted", async () => {
  const nc = await connectNats(server.url);
  await (await jetstreamManager(nc)).streams.delete(sales.stream.spec.name);
  await nc.close();
  // Nothing wakes the check (its next run is 30 s away): the publishes that find no stream do.
  await createProducts("GONE", 2);
  await waitFor(async () => (await streamIds()).length === 9 && allPublished(), {
    message: "everything published again into the stream made anew",
  });
  expect(await streamIds()).toEqual(await outboxIds());
  const counted = await sales.sql`select 1 from sales.outbox_messages where attempts > 0`;
  expect(counted).toHaveLength(0);
  const failed = logs.lines.find((line) => String(line.err).includes("nothing took the publish"));
  expect(failed?.err).toContain(`stream ${sales.stream.spec.name} deleted?`);
});

test("a row sent again inside the duplicate window does not hide a lost tail from the check", async () => {
  await waitFor(allPublished, { message: "everything published before the check" });
  type Row = { id: string; streamSequence: number };
  const [lowest, highest] = (await sales.sql<Row[]>`
    (select id, stream_sequence from sales.outbox_messages order by stream_sequence limit 1)
    union all
    (select id, stream_sequence from sales.outbox_messages order by stream_sequence desc limit 1)`) as unknown as [
    Row,
    Row,
  ];
  // The oldest message sent again (JetStream answered with its old sequence, so only
  // published_at moved), and the newest one recorded past the end of the stream, as if the
  // stream had lost its tail.
  await sales.sql`update sales.outbox_messages set published_at = now() + interval '1 second'
    where id = ${lowest.id}`;
  await sales.sql`update sales.outbox_messages set stream_sequence = stream_sequence + 1000
    where id = ${highest.id}`;
  const lostBefore = logs.lines.filter((line) => line.msg?.startsWith("the stream lost")).length;

  sales.stream.wake();
  await waitFor(
    async () => {
      const [row] = await sales.sql<{ streamSequence: number }[]>`
        select stream_sequence from sales.outbox_messages where id = ${highest.id}`;
      return row?.streamSequence === highest.streamSequence;
    },
    { message: "the row past the stream's end queued and published again" },
  );
  const lost = logs.lines.filter((line) => line.msg?.startsWith("the stream lost"));
  expect(lost).toHaveLength(lostBefore + 1);
  expect(lost.at(-1)).toMatchObject({ requeued: 1 });
  expect(await streamIds()).toEqual(await outboxIds());
});

test("the check re-queues only after relay batches still marking rows have committed", async () => {
  await waitFor(allPublished, { message: "everything published before the check" });
  const [newest] = await sales.sql<{ id: string; streamSequence: number }[]>`
    select id, stream_sequence from sales.outbox_messages order by stream_sequence desc limit 1`;
  if (!newest) throw new Error("no published row");
  // A relay batch between its PubAcks and its commit holds this lock shared.
  const marking = await sales.database.sql.reserve();
  await marking`begin`;
  await marking`select pg_advisory_xact_lock_shared(hashtext(${SALES_OUTBOX.marksLock}))`;
  try {
    await sales.sql`update sales.outbox_messages set stream_sequence = stream_sequence + 1000
      where id = ${newest.id}`;
    sales.stream.wake();
    await waitFor(
      async () => {
        const [{ waiting }] = (await sales.database.sql`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event = 'advisory'`) as [{ waiting: number }];
        return waiting > 0;
      },
      { message: "the check waiting for the batch" },
    );
    const [row] = await sales.sql<{ publishedAt: Date | null }[]>`
      select published_at from sales.outbox_messages where id = ${newest.id}`;
    expect(row?.publishedAt).toBeInstanceOf(Date);
  } finally {
    await marking`commit`;
    marking.release();
  }
  await waitFor(
    async () => {
      const [row] = await sales.sql<{ streamSequence: number }[]>`
        select stream_sequence from sales.outbox_messages where id = ${newest.id}`;
      return row?.streamSequence === newest.streamSequence;
    },
    { message: "the row re-queued and published again once the batch committed" },
  );
});

test("a batch that records its acks while the check waits for it is not taken for a lost tail", async () => {
  await waitFor(allPublished, { message: "everything published before the check" });
  const lostWarnings = () =>
    logs.lines.filter((line) => line.msg?.startsWith("the stream lost messages")).length;
  const warningsBefore = lostWarnings();
  const advisoryLocks = async () => {
    const [{ count }] = (await sales.database.sql`
      select count(*)::int as count from pg_locks
      where locktype = 'advisory' and database = (select oid from pg_database
        where datname = current_database())`) as [{ count: number }];
    return count;
  };
  // A relay batch between its PubAcks and its commit, which the woken check must wait for.
  const batch = await sales.database.sql.reserve();
  const nc = await connectNats(server.url);
  await batch`begin`;
  await batch`select pg_advisory_xact_lock_shared(hashtext(${SALES_OUTBOX.marksLock}))`;
  try {
    sales.stream.wake();
    await waitFor(async () => (await advisoryLocks()) > 1, { message: "the check waiting" });
    const id = Bun.randomUUIDv7();
    const writes = pipelineWrites(batch);
    createOutboxEventBus(writes, { newEventId: () => id, headers: {} }).publish(
      unsentProductCreated({ sku: "LATE-1", name: "Late" }),
    );
    await writes.settled();
    const ack = await jetstream(nc).publish(sales.names.subject(PRODUCT_CREATED_V1), "{}", {
      msgID: id,
    });
    await batch`update sales.outbox_messages set published_at = now(), stream_sequence = ${ack.seq}
      where id = ${id}`;
  } finally {
    await batch`commit`;
    batch.release();
    await nc.close();
  }
  await waitFor(async () => (await advisoryLocks()) === 0, { message: "the check done" });
  expect(lostWarnings()).toBe(warningsBefore);
});

test("a stream check whose message lookups fail queues nothing again, tries again, and says so once", async () => {
  await waitFor(allPublished, { message: "everything published before the check" });
  const nc = await connectNats(server.url);
  let lookups = 0;
  const lookupsFail = beforeLookups(nc, () => {
    lookups++;
    return Promise.reject(new Error("TIMEOUT (injected)"));
  });
  const checkLogs = captureLogger("sales-check");
  const failures = () => checkLogs.lines.filter((line) => line.msg === "loop run failed");
  const requeued = () =>
    checkLogs.lines.some((line) => line.msg?.startsWith("the stream lost messages"));
  const check = startStreamCheck({
    sql: sales.sql,
    nats: linkTo(lookupsFail),
    names: sales.names,
    outbox: SALES_OUTBOX,
    log: checkLogs.log,
    maxAgeMs: sales.stream.spec.maxAgeMs,
    onVerified: () => {},
  });
  try {
    await waitFor(() => lookups >= 3 || requeued(), {
      message: "the check to fail, and fail again on its retries",
    });
  } finally {
    await check.stop();
    await nc.close();
  }
  expect(check.isReady).toBe(false);
  expect(await allPublished()).toBe(true);
  expect(requeued()).toBe(false);
  expect(failures()).toHaveLength(1);
  expect(failures()[0]?.err).toBe(
    `cannot ensure stream ${sales.stream.spec.name}: TIMEOUT (injected)`,
  );
});

test("a stream of Sales' name that another outbox publishes to is left alone, and the check says why once", async () => {
  const names = natsNames(`t${uniqueId()}`);
  const nc = await connectNats(server.url);
  const jsm = await jetstreamManager(nc);
  const another = {
    name: names.stream(SALES_STREAM),
    subjects: [names.subject("shipping.>")],
    description: "published from shipping.outbox_messages",
  };
  await jsm.streams.add(another);
  let infos = 0;
  const counting = interceptRequests(nc, (subject, send) => {
    if (subject.includes(".STREAM.INFO.")) infos++;
    return send();
  });
  const checkLogs = captureLogger("sales-check");
  const check = startStreamCheck({
    sql: sales.sql,
    nats: linkTo(counting),
    names,
    outbox: SALES_OUTBOX,
    log: checkLogs.log,
    maxAgeMs: HOUR_MS,
    onVerified: () => {},
    checkIntervalMs: 10,
  });
  try {
    await waitFor(() => infos >= 3, { message: "three checks" });
    expect(check.isReady).toBe(false);
  } finally {
    await check.stop();
  }
  try {
    const saidWhy = checkLogs.lines.filter((line) => line.level === "error");
    expect(saidWhy).toHaveLength(1);
    expect(saidWhy[0]?.msg).toStartWith(
      `stream ${another.name} is another publisher's (its description: "published from shipping.outbox_messages")`,
    );
    expect((await jsm.streams.info(another.name)).config).toMatchObject({
      subjects: another.subjects,
      description: another.description,
    });
  } finally {
    await jsm.streams.delete(another.name);
    await nc.close();
  }
});

test("the stream check names Sales' outbox in the stream's description, taking over a stream without one", async () => {
  const outbox = await useOwnOutbox();
  await outbox.check();
  const jsm = await jetstreamManager(outbox.connection);
  const { config } = await jsm.streams.info(outbox.streamName);
  expect(config.description).toBe("published from sales.outbox_messages");
});

test("a re-created stream given more new messages than the outbox has old ones is not taken for ours", async () => {
  const outbox = await useOwnOutbox();
  const [, ...old] = await outbox.publish(3, { ageMs: MINUTE_MS });
  // Retention (shorter than the stream's max age) deleted the oldest row: no old row shares the
  // new stream's first sequence.
  await outbox.sql`delete from sales.outbox_messages where stream_sequence = 1`;
  await outbox.recreateStream();
  const fresh = await outbox.publish(5);
  // At sequences 2 and 3 the stream holds new messages, not the old rows': the old ones are lost.
  expect(await outbox.check()).toEqual([...old, ...fresh].sort());
});

test("a re-created stream given fewer new messages than the outbox has old ones is not taken for ours", async () => {
  const outbox = await useOwnOutbox();
  const old = await outbox.publish(5, { ageMs: MINUTE_MS });
  await outbox.recreateStream();
  const fresh = await outbox.publish(3);
  expect(await outbox.check()).toEqual([...old, ...fresh].sort());
});

test("after the stream expired the older rows, losing its newest messages re-queues only those", async () => {
  const outbox = await useOwnOutbox({ maxAgeMs: HOUR_MS });
  await outbox.publish(3, { ageMs: 2 * HOUR_MS });
  await outbox.purgeStream(); // they expired: the stream is empty, its last sequence 3
  // Published since, then lost by the broker: recorded past the stream's last sequence.
  const lost = [await outbox.record(4), await outbox.record(5)];
  expect(await outbox.check()).toEqual(lost.sort());
});

test("messages an operator removed from the stream's head are not sent again, newer ones published or not", async () => {
  const outbox = await useOwnOutbox();
  await outbox.publish(3);
  await outbox.purgeStream(); // `nats stream purge`
  expect(await outbox.check()).toEqual([]);
  await outbox.publish(1);
  expect(await outbox.check()).toEqual([]);
  await outbox.limitStream(2); // a `max_msgs` limit drops the oldest
  await outbox.publish(3);
  expect(await outbox.check()).toEqual([]);
});

test("messages deleted inside the stream are not sent again; a deleted newest one is, alone", async () => {
  const outbox = await useOwnOutbox();
  const ids = await outbox.publish(6);
  await outbox.expire(3); // `nats stream rmm`: the stream keeps its last sequence
  expect(await outbox.check()).toEqual([]);
  // The newest missing reads as a tail the server lost while keeping its last sequence (newer
  // servers do): sent again, and only it, not the outbox's whole history.
  await outbox.expire(6);
  expect(await outbox.check()).toEqual([ids[5] as string]);
  // A tail lost past the stream's end is sent again, down to the newest message it holds.
  const lost = [await outbox.record(7), await outbox.record(8)];
  expect(await outbox.check()).toEqual([ids[5] as string, ...lost].sort());
});

test("a lost tail is found by a few lookups, however many rows the outbox holds", async () => {
  const outbox = await useOwnOutbox();
  const ids = await outbox.publish(40);
  for (const sequence of [37, 38, 39, 40]) await outbox.expire(sequence);
  let lookups = 0;
  const counting = beforeLookups(outbox.connection, async () => lookups++);
  expect(await outbox.check({ connection: counting })).toEqual(ids.slice(36).sort());
  expect(lookups).toBeLessThanOrEqual(10);
});

test("the oldest message expiring while the check looks is not taken for another stream's", async () => {
  const outbox = await useOwnOutbox();
  await outbox.publish(3);
  // Gone after the check read the stream's first sequence, before it looked the message up.
  let expiry: Promise<void> | undefined;
  const expiring = beforeLookups(outbox.connection, () => (expiry ??= outbox.expire(1)));
  expect(await outbox.check({ connection: expiring })).toEqual([]);
});

test("messages that expire while the check looks are not taken for a lost tail", async () => {
  const outbox = await useOwnOutbox();
  await outbox.publish(5);
  // All gone after the check read the stream's first sequence, before it looked them up.
  let expiry: Promise<void> | undefined;
  const expiring = beforeLookups(outbox.connection, () => (expiry ??= outbox.purgeStream()));
  expect(await outbox.check({ connection: expiring })).toEqual([]);
});

test("messages the server reports lost are sent again, wherever they were", async () => {
  const outbox = await useOwnOutbox();
  const ids = await outbox.publish(5);
  const damaged = reportingLost(outbox.connection, [2, 3]);
  expect(await outbox.check({ connection: damaged })).toEqual([ids[1], ids[2]].sort() as string[]);
});

test("the shortest and the longest stream max age Sales' settings accept are ones JetStream takes", async () => {
  const maxAge = (ms: number) => v.safeParse(SalesEnv, { STREAM_MAX_AGE_MS: String(ms) });
  expect(maxAge(DUPLICATE_WINDOW_MS - 1).success).toBe(false);
  expect(maxAge(MAX_KEEP_MS + 1).success).toBe(false);
  const nc = await connectNats(server.url);
  try {
    for (const [name, maxAgeMs] of [
      ["SHORTEST_MAX_AGE", DUPLICATE_WINDOW_MS],
      ["LONGEST_MAX_AGE", MAX_KEEP_MS],
    ] as const) {
      expect(maxAge(maxAgeMs).success).toBe(true);
      const { outcome } = await ensureStream(await jetstreamManager(nc), {
        name,
        subjects: [`${name.toLowerCase()}.>`],
        maxAgeMs,
        duplicateWindowMs: DUPLICATE_WINDOW_MS,
      });
      expect(outcome).toBe("created");
    }
  } finally {
    await nc.close();
  }
});

/** A stream check of its own on `useOwnOutbox`'s outbox, through `connection`. */
function ownCheck(
  outbox: Awaited<ReturnType<typeof useOwnOutbox>>,
  connection: NatsConnection,
  onVerified: () => void,
) {
  const check = startStreamCheck({
    sql: outbox.sql,
    nats: linkTo(connection),
    names: outbox.names,
    outbox: SALES_OUTBOX,
    log: silentLogger,
    maxAgeMs: HOUR_MS,
    onVerified,
  });
  afterTests(() => check.stop());
  return check;
}

test("an unanswered publish has the stream checked again; asked again right after the check found the stream, it is declined", async () => {
  const outbox = await useOwnOutbox();
  let verified = 0;
  const check = ownCheck(outbox, outbox.connection, () => verified++);
  await waitFor(() => check.isReady, { message: "the stream checked" });

  expect(check.recheckForUnansweredPublish()).toBe(true);
  expect(check.isReady).toBe(false);
  expect(check.recheckForUnansweredPublish()).toBe(true); // still being checked
  await waitFor(() => check.isReady, { message: "the stream checked again" });
  expect(verified).toBe(2);
  // The stream is there: what keeps publishes unanswered is something else, counted as a failure.
  expect(check.recheckForUnansweredPublish()).toBe(false);
  expect(check.isReady).toBe(true);
});

test("a stream deleted again right after a recheck made it anew is rechecked again at once", async () => {
  const outbox = await useOwnOutbox();
  const check = ownCheck(outbox, outbox.connection, () => {});
  await waitFor(() => check.isReady, { message: "the stream checked" });
  for (const round of [1, 2]) {
    await outbox.deleteStream();
    expect(check.recheckForUnansweredPublish()).toBe(true);
    await waitFor(() => check.isReady, { message: `the stream made anew (${round})` });
    expect(await outbox.streamExists()).toBe(true);
  }
});

test("a recheck asked for while a check runs is not vouched for by that run: only a run after it verifies", async () => {
  const outbox = await useOwnOutbox();
  let infosToGo = 0;
  let streamRequestsSinceRecheck: number | undefined;
  const seen: (number | undefined)[] = [];
  let check: ReturnType<typeof ownCheck> | undefined;
  const connection = interceptRequests(outbox.connection, async (subject, send) => {
    if (streamRequestsSinceRecheck !== undefined && subject.includes(".STREAM.")) {
      streamRequestsSinceRecheck++;
    }
    const answer = await send();
    if (infosToGo > 0 && subject.includes(".STREAM.INFO.") && --infosToGo === 0) {
      // The run's last look at the stream (ensuring it, then looking for lost messages in an
      // empty outbox): then the stream goes, and a publish finds it gone.
      await outbox.deleteStream();
      streamRequestsSinceRecheck = 0;
      check?.recheckForUnansweredPublish();
    }
    return answer;
  });
  check = ownCheck(outbox, connection, () => seen.push(streamRequestsSinceRecheck));
  await waitFor(() => check?.isReady, { message: "the stream checked" });
  infosToGo = 2;
  check.wake();
  await waitFor(() => seen.length === 2, { message: "verified again after the recheck" });
  expect(seen[1]).toBeGreaterThan(0);
  expect(await outbox.streamExists()).toBe(true);
});
