import { expect, test } from "bun:test";
import { type StreamsReport, streamsText } from "./stream-report.ts";

const inbox = {
  stream: "SALES",
  consumerName: "orders",
  reader: "Orders",
  publisher: { name: "Sales", republishScript: "outbox:republish" },
} as Parameters<typeof streamsText>[1];

const stream: StreamsReport["stream"] = {
  name: "SALES",
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

test("streams shows the stream's max age, and JetStream's 0 as no limit", () => {
  expect(streamsText({ stream, consumer: null }, inbox)).toMatch(/Max age:\s+30 d 0 h\n/);
  const unlimited = streamsText({ stream: { ...stream, maxAgeMs: 0 }, consumer: null }, inbox);
  expect(unlimited).toMatch(/Max age:\s+unlimited\n/);
});
