import { expect, test } from "bun:test";
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { type StreamsReport, streamsText, toStreamsReport } from "./stream-report.ts";

const inbox = {
  schema: "orders",
  stream: "SALES",
  consumerName: "orders",
  reader: "Orders",
  publisher: { name: "Sales", republishScript: "outbox:republish" },
} as Parameters<typeof streamsText>[1];

const stream: StreamsReport["stream"] = {
  name: "SALES",
  description: "published from sales.outbox_messages",
  subjects: ["sales.>"],
  retention: "limits",
  storage: "file",
  maxAgeMs: 30 * 86_400_000,
  duplicateWindowMs: 120_000,
  messages: 3,
  bytes: 1_500,
  firstSeq: 1,
  firstTime: null,
  lastSeq: 3,
  lastTime: null,
  deleted: 0,
  consumers: 1,
};

const noConsumers = {
  consumer: null,
  consumerTakenBy: null,
  otherConsumers: [],
  lowestAckFloor: null,
};

test("streams shows the stream's publisher and max age, and JetStream's 0 as no limit", () => {
  expect(streamsText({ stream, ...noConsumers }, inbox)).toMatch(/Max age:\s+30 d 0 h\n/);
  expect(streamsText({ stream, ...noConsumers }, inbox)).toMatch(
    /\n {2}Description:\s+published from sales\.outbox_messages\n/,
  );
  const unlimited = streamsText({ stream: { ...stream, maxAgeMs: 0 }, ...noConsumers }, inbox);
  expect(unlimited).toMatch(/Max age:\s+unlimited\n/);
});

const streamInfo = {
  config: { name: "SALES", subjects: ["sales.>"], max_age: 0, duplicate_window: 0 },
  state: { messages: 9, bytes: 0, first_seq: 1, last_seq: 9, consumer_count: 3 },
} as unknown as StreamInfo;

/** A consumer that has acked up to `ackFloor` and been given up to `delivered` (stream seqs). */
const consumerInfo = (name: string, ackFloor: number, delivered: number, description?: string) =>
  ({
    name,
    config: { description },
    num_pending: 9 - delivered,
    num_ack_pending: delivered - ackFloor,
    num_redelivered: 0,
    num_waiting: 0,
    delivered: { consumer_seq: delivered, stream_seq: delivered },
    ack_floor: { consumer_seq: ackFloor, stream_seq: ackFloor },
  }) as unknown as ConsumerInfo;

test("the report lists the other consumers after the inbox's, and the lowest ack floor of all", () => {
  const report = toStreamsReport(
    streamInfo,
    [
      consumerInfo("shipping", 4, 6, "stored in shipping.inbox_messages"),
      consumerInfo("orders", 7, 9),
      consumerInfo("billing", 8, 8),
    ],
    inbox,
  );
  expect(report.consumer).toMatchObject({ name: "orders", ackFloor: { streamSeq: 7 } });
  expect(report.otherConsumers).toEqual([
    {
      name: "billing",
      description: null,
      pending: 1,
      ackPending: 0,
      delivered: { consumerSeq: 8, streamSeq: 8, lastActive: null },
      ackFloor: { consumerSeq: 8, streamSeq: 8, lastActive: null },
    },
    {
      name: "shipping",
      description: "stored in shipping.inbox_messages",
      pending: 3,
      ackPending: 2,
      delivered: { consumerSeq: 6, streamSeq: 6, lastActive: null },
      ackFloor: { consumerSeq: 4, streamSeq: 4, lastActive: null },
    },
  ]);
  expect(report.lowestAckFloor).toBe(4);

  const text = streamsText(report, inbox);
  expect(text.indexOf("Consumer orders\n")).toBeLessThan(text.indexOf("Other consumers"));
  expect(text).toMatch(/\n {2}billing +1 +0 +8 +8 +-\n/);
  expect(text).toMatch(/\n {2}shipping +3 +2 +4 +6 +stored in shipping\.inbox_messages\n/);
  expect(text).toContain("Lowest ack floor: stream seq 4 (shipping)\n");
  expect(text).toContain(
    "  Safe to purge up to stream seq 4 (`nats stream purge SALES --seq 5` keeps 5 on):\n",
  );
  expect(text).toContain("NOT safe if some\n  module's consumer does not exist yet");
});

test("without the inbox's consumer, or any, the report says purging is not safe", () => {
  const withoutOrders = toStreamsReport(streamInfo, [consumerInfo("shipping", 4, 6)], inbox);
  expect(withoutOrders.lowestAckFloor).toBe(4);
  const text = streamsText(withoutOrders, inbox);
  expect(text).toContain("Lowest ack floor: stream seq 4 (shipping)\n");
  expect(text).toContain(
    "  NOT safe to purge: consumer orders does not exist yet, and Orders has read none of the messages.\n",
  );

  const none = toStreamsReport(streamInfo, [], inbox);
  expect(none).toMatchObject(noConsumers);
  expect(streamsText(none, inbox)).toContain(
    "Other consumers: none\n\nLowest ack floor: none (no consumers)\n  NOT safe to purge:",
  );
});

test("consumers at the same lowest ack floor are all named", () => {
  const report = toStreamsReport(
    streamInfo,
    [consumerInfo("orders", 4, 9), consumerInfo("shipping", 4, 4)],
    inbox,
  );
  expect(streamsText(report, inbox)).toContain(
    "Lowest ack floor: stream seq 4 (orders, shipping)\n",
  );
});

test("a consumer of the inbox's name that another inbox made is not taken for the inbox's", () => {
  const report = toStreamsReport(
    streamInfo,
    [consumerInfo("orders", 9, 9, "stored in billing.inbox_messages")],
    inbox,
  );
  expect(report).toMatchObject({
    consumer: null,
    consumerTakenBy: "stored in billing.inbox_messages",
    otherConsumers: [{ name: "orders", description: "stored in billing.inbox_messages" }],
  });
  const text = streamsText(report, inbox);
  expect(text).toContain(
    'Consumer orders: another inbox\'s ("stored in billing.inbox_messages"), so Orders is not consuming',
  );
  expect(text).toContain("  NOT safe to purge: Orders is not consuming");
  expect(text).not.toContain("Safe to purge up to");

  const own = toStreamsReport(
    streamInfo,
    [consumerInfo("orders", 9, 9, "stored in orders.inbox_messages")],
    inbox,
  );
  expect(own).toMatchObject({ consumer: { name: "orders" }, consumerTakenBy: null });
  const noted = toStreamsReport(
    streamInfo,
    [consumerInfo("orders", 9, 9, "an operator's note")],
    inbox,
  );
  expect(noted).toMatchObject({ consumer: { name: "orders" }, consumerTakenBy: null });
});
