import { afterEach, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { connectNats } from "../nats.ts";
import { keepFirstMessages } from "../processes/nats-server.ts";
import { readStreamMessages } from "../testing/stream-messages.ts";
import { waitFor } from "../testing/test-environment.ts";
import { type FaultSystem, reportScenario, startFaultSystem } from "./fault-system.ts";
import { http } from "./system-under-test.ts";
import { startWriteLoad } from "./write-load.ts";

let system: FaultSystem | undefined;
afterEach(async () => {
  await system?.dispose();
  system = undefined;
});

const ready = async (url: string) => (await http("GET", `${url}/ready`)).status === 200;

test("SIGKILL NATS under load and restart it on the same store: both processes reconnect", async () => {
  system = await startFaultSystem();
  const { sales, orders, natsServer } = system;
  const load = startWriteLoad(() => sales.url);
  const kills = 3;
  for (let i = 0; i < kills; i++) {
    await load.waitForRequests(150);
    await natsServer.stop("SIGKILL");
    await load.waitForRequests(100); // Sales keeps taking writes into its outbox
    await natsServer.start();
  }
  await load.waitForRequests(150);
  const stats = await load.stop();
  expect(stats.byStatus.error ?? 0).toBe(0);
  expect(stats.byStatus["201"]).toBeGreaterThan(0);
  await waitFor(async () => (await ready(sales.url)) && ready(orders.url), {
    message: "both ready again",
  });
  const report = await system.checkInvariants();
  reportScenario("SIGKILL NATS", `${kills} kills, same store`, report);
}, 120_000);

test("broker amnesia: NATS comes back with an empty store; Sales re-publishes, Orders converges", async () => {
  system = await startFaultSystem();
  const { sales, orders, natsServer } = system;
  const consumerCreated = (line: { msg?: string; outcome?: unknown }) =>
    line.msg === "consumer ensured" && line.outcome === "created";

  // While both run: the live consumer disappears with the store and Orders must recreate it.
  const first = startWriteLoad(() => sales.url);
  await first.waitForRequests(300);
  await natsServer.stop("SIGKILL");
  await natsServer.start({ emptyStore: true });
  await waitFor(() => orders.logs.filter(consumerCreated).length === 2, {
    message: "the live consumer recreated",
  });
  await first.waitForRequests(300);
  await first.stop();
  await system.checkInvariants(); // the same Orders process caught up

  // With Orders behind, so some events exist only in the stream when it is lost.
  const second = startWriteLoad(() => sales.url);
  await second.waitForRequests(200);
  await orders.stop("SIGKILL");
  await second.waitForRequests(200);
  await natsServer.stop("SIGKILL");
  await natsServer.start({ emptyStore: true });
  await orders.start();
  await second.waitForRequests(200);
  await second.stop();

  const report = await system.checkInvariants();
  reportScenario("broker amnesia", "NATS restarted twice with an empty store", report);
  expect(sales.logs.some((line) => line.msg?.startsWith("the stream lost messages"))).toBe(true);
  expect(report.streamMessages).toBe(report.events);
  expect(orders.logs.filter(consumerCreated).length).toBe(3);
}, 120_000);

test("NATS comes back without the stream's tail but with its consumer's state: nothing is skipped", async () => {
  system = await startFaultSystem();
  const { sales, orders, natsServer, natsUrl, streamName } = system;
  const cutHalf = async () => {
    const stored = (await readStreamMessages(natsUrl, streamName)).length;
    await natsServer.stop("SIGTERM");
    await keepFirstMessages(natsServer.storeDir, streamName, Math.floor(stored / 2));
    return stored - Math.floor(stored / 2);
  };
  const before = startWriteLoad(() => sales.url);
  await before.waitForRequests(200);
  await before.stop();

  // Fewer writes during the outage than messages lost, and Orders away until Sales has refilled
  // the stream: Sales must put the lost messages back first, at the sequences Orders' consumer
  // has already passed (so they are ones it stored), and the new ones after.
  await system.checkInvariants(); // Orders has stored and acked every message
  await orders.stop("SIGTERM");
  const firstCut = await cutHalf();
  const during = startWriteLoad(() => sales.url);
  await during.waitForRequests(20);
  await during.stop();
  await natsServer.start();
  const { sql } = system;
  await waitFor(
    async () =>
      (await sql`select 1 from sales.outbox_messages where published_at is null`).length === 0,
    { message: "Sales to refill the stream" },
  );
  expect(sales.logs.some((line) => line.msg?.startsWith("the stream lost messages"))).toBe(true);
  await orders.start();
  await system.checkInvariants();

  // With Sales stopped nothing refills the stream: Orders must notice by itself.
  await sales.stop("SIGTERM");
  const secondCut = await cutHalf();
  await natsServer.start();
  // Noticed once its consumer is no longer past the stream's end: Orders made it anew.
  const nc = await connectNats(natsUrl);
  try {
    const jsm = await jetstreamManager(nc);
    await waitFor(
      async () =>
        (await jsm.consumers.info(streamName, "orders")).ack_floor.stream_seq <=
        (await jsm.streams.info(streamName)).state.last_seq,
      { timeoutMs: 30_000, message: "Orders to read the cut stream again" },
    );
  } finally {
    await nc.close();
  }
  await sales.start();

  const report = await system.checkInvariants();
  reportScenario(
    "stream tail lost",
    `${firstCut} and then ${secondCut} messages cut, consumer kept`,
    report,
  );
}, 120_000);

test("duplicates beyond the dedup window (same event, new Nats-Msg-Id) are applied once", async () => {
  system = await startFaultSystem();
  const { sales } = system;
  const load = startWriteLoad(() => sales.url);
  await load.waitForRequests(200);
  await load.stop();
  await system.checkInvariants();

  const { natsUrl, streamName } = system;
  const messages = await readStreamMessages(natsUrl, streamName);
  const nc = await connectNats(natsUrl);
  const js = jetstream(nc);
  for (const message of messages) {
    const headers = natsHeaders();
    headers.set("Content-Type", "application/cloudevents+json");
    await js.publish(message.subject, message.body, {
      msgID: `${message.headers["Nats-Msg-Id"]}-copy`,
      headers,
    });
  }
  const jsm = await jetstreamManager(nc);
  await waitFor(
    async () => {
      const info = await jsm.consumers.info(streamName, "orders");
      return (
        info.num_pending === 0 &&
        info.num_ack_pending === 0 &&
        info.delivered.stream_seq === 2 * messages.length
      );
    },
    { message: "Orders to take every copy" },
  );
  await nc.close();

  const report = await system.checkInvariants();
  reportScenario(
    "duplicates beyond the dedup window",
    `${messages.length} events re-sent with new msg ids`,
    report,
  );
  expect(report.streamMessages).toBe(2 * report.events);
}, 120_000);
