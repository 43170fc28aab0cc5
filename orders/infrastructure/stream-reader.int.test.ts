import { afterAll, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "shared";
import { readStream } from "shared/inbox";
import { startNatsServer } from "shared/processes/nats-server.ts";
import { testEnv } from "shared/testing/test-environment.ts";
import { startFakeSales } from "../testing/orders-under-test.ts";

const sales = await startFakeSales();
const nc = await connectNats(testEnv.NATS_URL);
afterAll(() => nc.close());
const js = jetstream(nc);

const sequences = async (fromSeq: number, stopAfter = Number.POSITIVE_INFINITY) => {
  const read: number[] = [];
  const count = await readStream(js, sales.stream, {
    fromSeq,
    batchSize: 2,
    onMessage: (message) => {
      read.push(message.seq);
      return read.length < stopAfter;
    },
  });
  expect(count).toBe(read.length);
  return read;
};

for (let n = 1; n <= 5; n++) await sales.publishRaw("sales.product.created.v1", `message ${n}`);

test("reads from a sequence to the end, or until told to stop", async () => {
  expect(await sequences(1)).toEqual([1, 2, 3, 4, 5]);
  expect(await sequences(4)).toEqual([4, 5]);
  expect(await sequences(2, 2)).toEqual([2, 3]);
  expect(await sequences(6)).toEqual([]);
  expect(await sequences(100)).toEqual([]);
});

test("ends when the stream's newest messages were deleted (last_seq stays where it was)", async () => {
  await sales.jsm.streams.deleteMessage(sales.stream, 5);
  await sales.jsm.streams.deleteMessage(sales.stream, 4);
  expect((await sales.jsm.streams.info(sales.stream)).state).toMatchObject({
    messages: 3,
    last_seq: 5,
  });
  expect(await sequences(1)).toEqual([1, 2, 3]);
  expect(await sequences(3)).toEqual([3]);
  expect(await sequences(4)).toEqual([]);
  expect(await sequences(5)).toEqual([]);
});

test("ends on a stream whose every message was deleted", async () => {
  for (const seq of [1, 2, 3]) await sales.jsm.streams.deleteMessage(sales.stream, seq);
  expect(await sequences(1)).toEqual([]);
});

test("a read that NATS left waiting stops when its signal aborts, and rejects with the reason", async () => {
  const server = await startNatsServer();
  const own = await connectNats(server.url);
  try {
    const jsm = await jetstreamManager(own);
    await jsm.streams.add({ name: "HALTED", subjects: ["halted.>"] });
    const ownJs = jetstream(own);
    for (let n = 1; n <= 3; n++) await ownJs.publish("halted.message", `message ${n}`);

    const reading = new AbortController();
    const read: number[] = [];
    const outcome = readStream(ownJs, "HALTED", {
      fromSeq: 1,
      batchSize: 1,
      signal: reading.signal,
      onMessage: async (message) => {
        read.push(message.seq);
        if (read.length === 1) {
          await server.stop(); // the next message can no longer come
          setTimeout(() => reading.abort(new Error("gave up on the stream")), 200);
        }
        return true;
      },
    });
    await expect(outcome).rejects.toThrow("gave up on the stream");
    expect(read).toEqual([1]);
  } finally {
    await own.close().catch(() => {});
    await server.dispose();
  }
});
