import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { nanos, headers as natsHeaders } from "@nats-io/nats-core";
import postgres from "postgres";
import { connectNats } from "../nats.ts";
import { newTraceparent } from "../trace.ts";
import { benchProduct, productCreatedEvent } from "./wire.ts";

export type Measured = { events: number; ms: number };

/** Runs `work(i)` for i in [0, total) with at most `lanes` calls in flight. */
export async function inLanes(
  total: number,
  lanes: number,
  work: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < total) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(lanes, total) }, lane));
}

/**
 * The write Sales does for `POST /products`, issued directly: one transaction inserting the
 * product and its outbox row (with a `traceparent`, as Sales stores), `concurrency` at a time,
 * with a plain `postgres` client (no HTTP, no relay, no consumer). As in Sales, the two inserts
 * go out together, between BEGIN and COMMIT: three round trips. Every connection is open before
 * the clock starts, and the first 2 s (at most a fifth of the run) are left out, as the
 * end-to-end figure leaves out its warm-up. The rows stay in the outbox: they are the relay
 * phase's backlog.
 */
export async function measureRawWrite({
  databaseUrl,
  events,
  concurrency,
  label,
}: {
  databaseUrl: string;
  events: number;
  concurrency: number;
  label: string;
}): Promise<Measured> {
  const sql = postgres(databaseUrl, {
    max: concurrency,
    onnotice: () => {},
    connection: { application_name: "bench-raw-write" },
  });
  try {
    await Promise.all(Array.from({ length: concurrency }, () => sql`select 1`));
    const finishedAt: number[] = [];
    const started = performance.now();
    await inLanes(events, concurrency, async (n) => {
      const product = benchProduct(label, n);
      const now = new Date();
      const headers = { traceparent: newTraceparent() };
      const event = productCreatedEvent(product, Bun.randomUUIDv7(), now, headers.traceparent);
      await sql.begin((tx) => [
        tx`
          insert into sales.products
            (id, sku, name, description, price_amount, price_currency, version, created_at, updated_at)
          values (${product.id}, ${product.sku}, ${product.name}, ${product.description},
                  ${product.price.amount}, ${product.price.currency}, 1, ${now}, ${now})`,
        tx`
          insert into sales.outbox_messages (id, type, subject, payload, headers, occurred_at)
          values (${event.id}, ${event.type}, ${event.type}, ${tx.json(event)}, ${tx.json(headers)},
                  clock_timestamp())`,
      ]);
      finishedAt.push(performance.now());
    });
    const ended = performance.now();
    const from = started + Math.min(2_000, (ended - started) * 0.2);
    return { events: finishedAt.filter((at) => at >= from).length, ms: ended - from };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A stream of the benchmark's own for the JetStream probes, shaped like `SALES`. */
export async function createProbeStream(jsm: JetStreamManager, name: string, subject: string) {
  await jsm.streams.add({
    name,
    subjects: [subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
}

/**
 * JetStream publish with `window` publishes in flight, each with its own `Nats-Msg-Id` and a
 * body the size of a real event, and each awaiting its PubAck (no database).
 */
export async function measureRawPublish({
  natsUrl,
  subject,
  events,
  window,
}: {
  natsUrl: string;
  subject: string;
  events: number;
  window: number;
}): Promise<Measured> {
  const nc = await connectNats(natsUrl, "bench-raw-publish");
  try {
    const js = jetstream(nc, { timeout: 30_000 });
    const body = JSON.stringify(
      productCreatedEvent(benchProduct("RAW", 0), Bun.randomUUIDv7(), new Date(), newTraceparent()),
    );
    const started = performance.now();
    await inLanes(events, window, async () => {
      const headers = natsHeaders();
      headers.set("Content-Type", "application/cloudevents+json");
      await js.publish(subject, body, { msgID: Bun.randomUUIDv7(), headers });
    });
    return { events, ms: performance.now() - started };
  } finally {
    await nc.close();
  }
}

/**
 * A durable pull consumer, configured like Orders' (explicit ack, pulling up to `pullSize`),
 * receiving and acking `events` messages that wait in `stream` (no database).
 */
export async function measureRawConsume({
  natsUrl,
  stream,
  subject,
  events,
  pullSize,
}: {
  natsUrl: string;
  stream: string;
  subject: string;
  events: number;
  pullSize: number;
}): Promise<Measured> {
  const nc = await connectNats(natsUrl, "bench-raw-consume");
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(stream, {
      durable_name: "raw",
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(30_000),
      max_ack_pending: 10_000,
      filter_subject: subject,
      deliver_policy: DeliverPolicy.All,
    });
    const consumer = await jetstream(nc).consumers.get(stream, "raw");
    let received = 0;
    let allReceived: () => void = () => {};
    const done = new Promise<void>((resolve) => (allReceived = resolve));
    const started = performance.now();
    const messages = await consumer.consume({
      max_messages: pullSize,
      callback: (message) => {
        message.ack();
        if (++received === events) allReceived();
      },
    });
    await done;
    await nc.flush();
    const ms = performance.now() - started;
    messages.stop();
    return { events, ms };
  } finally {
    await nc.close();
  }
}
