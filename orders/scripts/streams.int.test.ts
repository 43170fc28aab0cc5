import { afterAll, describe, expect, test } from "bun:test";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats, natsNames, parseScriptArgs } from "shared";
import { readStreamsReport, streamsText } from "shared/inbox";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { testEnv, waitFor } from "shared/testing/test-environment.ts";
import { ORDERS_INBOX } from "../infrastructure/orders-inbox.ts";
import {
  productSnapshot,
  startFakeSales,
  startOrdersUnderTest,
} from "../testing/orders-under-test.ts";
import { namespacedSubjectHint, spec, viewStream, viewText } from "./stream-view.ts";

const sales = await startFakeSales();
const orders = await startOrdersUnderTest(sales);
const env = { NATS_URL: testEnv.NATS_URL, NATS_NAMESPACE: sales.namespace };
const nc = await connectNats(testEnv.NATS_URL);
afterAll(() => nc.close());
const js = jetstream(nc);
const inNamespace = (subject: string) => `${sales.namespace}.${subject}`;
const sequences = async (options: Parameters<typeof viewStream>[2]) =>
  (await viewStream(js, sales.namespace, options)).map((m) => m.sequence);

// Five events: three products created (the first with a trace), two of them updated.
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const [a, b, c] = [productSnapshot(), productSnapshot(), productSnapshot()];
const events = [
  await sales.publishProduct("created", a, { traceparent }),
  await sales.publishProduct("created", b),
  await sales.publishProduct("created", c),
  await sales.publishProduct("updated", { ...a, version: 2 }),
  await sales.publishProduct("updated", { ...b, version: 2 }),
];
await waitFor(
  async () =>
    (await orders.sql`select 1 from orders.inbox_messages where status = 'processed'`).length === 5,
  { message: "five events applied" },
);

describe("bun run streams", () => {
  test("--json shows the stream's messages and sequences and the consumer caught up", async () => {
    const result = await runScriptProcess("orders/scripts/streams.ts", ["--json"], env);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const report = JSON.parse(result.stdout);
    expect(report.stream).toMatchObject({
      name: sales.stream,
      subjects: [inNamespace("sales.>")],
      retention: "limits",
      storage: "file",
      duplicateWindowMs: 120_000,
      messages: 5,
      firstSeq: 1,
      lastSeq: 5,
      consumers: 1,
    });
    expect(report.stream.bytes).toBeGreaterThan(5 * 300);
    expect(Date.parse(report.stream.lastTime)).toBeGreaterThanOrEqual(
      Date.parse(report.stream.firstTime),
    );
    expect(report.consumer).toMatchObject({
      name: "orders",
      pending: 0,
      ackPending: 0,
      redelivered: 0,
      delivered: { streamSeq: 5 },
      ackFloor: { streamSeq: 5, consumerSeq: 5 },
      filterSubject: inNamespace("sales.>"),
    });
  });

  test("--help names the nats CLI equivalent", async () => {
    const help = await runScriptProcess("orders/scripts/streams.ts", ["--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("nats stream info SALES");
    expect(help.stdout).toContain("nats consumer info SALES orders");
  });
});

describe("bun run stream:view", () => {
  test("--json --subject lists the matching messages with headers and parsed bodies", async () => {
    const result = await runScriptProcess(
      "orders/scripts/stream-view.ts",
      ["--json", "--subject", "sales.product.updated.v1"],
      env,
    );
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const messages = JSON.parse(result.stdout);
    expect(messages).toMatchObject([
      {
        sequence: 4,
        subject: inNamespace("sales.product.updated.v1"),
        headers: { "Nats-Msg-Id": events[3]?.id },
        body: { id: events[3]?.id, data: { productId: a.productId, version: 2 } },
      },
      { sequence: 5, body: { data: { productId: b.productId, version: 2 } } },
    ]);
  });

  test("the text shows sequence, subject, time, Nats-Msg-Id, traceparent and a pretty body", async () => {
    const text = viewText(await viewStream(js, sales.namespace, { limit: 1 }));
    expect(text).toMatch(
      new RegExp(`^\\[1\\] ${inNamespace("sales.product.created.v1")}  \\d{4}-\\d\\d-\\d\\dT`),
    );
    expect(text).toContain(`  Nats-Msg-Id: ${events[0]?.id}\n`);
    expect(text).toContain(`  traceparent: ${traceparent}\n`);
    expect(text).toContain(`\n  "data": {\n    "productId": "${a.productId}",`);
  });

  test("--last, --from with --limit, and --subject with --last select the right messages", async () => {
    expect(await sequences({ last: 2, limit: 25 })).toEqual([4, 5]);
    expect(await sequences({ from: 2, limit: 2 })).toEqual([2, 3]);
    expect(await sequences({ subject: "sales.product.created.v1", last: 1, limit: 25 })).toEqual([
      3,
    ]);
    expect(await sequences({ subject: "sales.product.*.v1", limit: 25 })).toEqual([1, 2, 3, 4, 5]);
    expect(await sequences({ from: 6, limit: 25 })).toEqual([]);
  });

  test("--subject takes a subject with NATS wildcards, and nothing else", () => {
    const subjectOption = (subject: string) => () => parseScriptArgs(spec, ["--subject", subject]);
    for (const accepted of ["sales.product.*.v1", "*.product.created.v1", "*.>", ">", "a"])
      expect(subjectOption(accepted)).not.toThrow();
    for (const refused of ["a..b", "a.b*", "a.>.b", "a b", ".a", "a."])
      expect(subjectOption(refused)).toThrow("must be a subject");
  });

  test("--last and --from together are refused with exit 2", async () => {
    const result = await runScriptProcess(
      "orders/scripts/stream-view.ts",
      ["--last", "1", "--from", "1"],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("use --last or --from, not both");
  });

  test("a --subject given with the namespace matches nothing, and stderr says to give it without", async () => {
    const result = await runScriptProcess(
      "orders/scripts/stream-view.ts",
      ["--subject", inNamespace("sales.product.updated.v1")],
      env,
    );
    expect(result).toMatchObject({ code: 0, stdout: "(no messages)\n" });
    expect(result.stderr).toContain(
      `given without NATS_NAMESPACE (${sales.namespace}): try --subject sales.product.updated.v1`,
    );
    expect(namespacedSubjectHint(sales.namespace, inNamespace("sales.>"), 1)).toBeUndefined();
    expect(namespacedSubjectHint("", "sales.>", 0)).toBeUndefined();
  });

  test("a stream that does not exist is named", async () => {
    const result = await runScriptProcess("orders/scripts/stream-view.ts", [], {
      ...env,
      NATS_NAMESPACE: `${sales.namespace}x`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`stream ${sales.namespace}x_SALES not found`);
  });
});

test("while Orders is down, streams shows the new messages pending and the ack floor where it was", async () => {
  await orders.stop();
  await sales.publishProduct("created", productSnapshot());
  await sales.publishProduct("created", productSnapshot());
  const jsm = await jetstreamManager(nc);
  const report = await readStreamsReport(jsm, ORDERS_INBOX, natsNames(sales.namespace));
  expect(report.stream).toMatchObject({ messages: 7, lastSeq: 7 });
  expect(report.consumer).toMatchObject({ pending: 2, ackPending: 0, ackFloor: { streamSeq: 5 } });
  const text = streamsText(report, ORDERS_INBOX);
  expect(text).toMatch(/Messages: +7\n/);
  expect(text).toMatch(/Pending \(unprocessed\): +2\n/);
  expect(text).toMatch(/Ack floor: +consumer seq 5, stream seq 5\n/);
  // Another module's consumer on the same stream, which never ran: the report names it.
  const shipping = { ...ORDERS_INBOX, consumerName: "shipping", reader: "Shipping" };
  const absent = await readStreamsReport(jsm, shipping, natsNames(sales.namespace));
  expect(absent.consumer).toBeNull();
  const absentText = streamsText(absent, shipping);
  expect(absentText).toContain("Consumer shipping: does not exist (has Shipping started?)");
  // Orders' floor is the lowest of those there, but Shipping has read nothing yet.
  expect(absent).toMatchObject({ otherConsumers: [{ name: "orders" }], lowestAckFloor: 5 });
  expect(absentText).toContain(
    "NOT safe to purge: consumer shipping does not exist yet, and Shipping has read none",
  );
  const elsewhere = natsNames(`${sales.namespace}x`);
  await expect(readStreamsReport(jsm, ORDERS_INBOX, elsewhere)).rejects.toThrow(
    `stream ${elsewhere.stream("SALES")} does not exist (has Sales started?)`,
  );
});

test("with another module's consumer behind Orders', streams lists it and its ack floor as the lowest", async () => {
  // Shipping's consumer, as its inbox makes it, has acked 3 of the 7 messages; Orders' 5.
  await sales.jsm.consumers.add(sales.stream, {
    durable_name: "shipping",
    description: "stored in shipping.inbox_messages",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });
  const shipping = await js.consumers.get(sales.stream, "shipping");
  for (let read = 0; read < 3; read++) await (await shipping.next())?.ackAck();

  const result = await runScriptProcess("orders/scripts/streams.ts", ["--json"], env);
  expect(result).toMatchObject({ code: 0, stderr: "" });
  const report = JSON.parse(result.stdout);
  // `consumer` stays Orders' own.
  expect(report.consumer).toMatchObject({ name: "orders", ackFloor: { streamSeq: 5 } });
  expect(report.otherConsumers).toMatchObject([
    {
      name: "shipping",
      description: "stored in shipping.inbox_messages",
      pending: 4,
      ackPending: 0,
      ackFloor: { streamSeq: 3 },
      delivered: { streamSeq: 3 },
    },
  ]);
  expect(report.lowestAckFloor).toBe(3);

  const { stdout: text } = await runScriptProcess("orders/scripts/streams.ts", [], env);
  expect(text).toMatch(/\n {2}shipping +4 +0 +3 +3 +stored in shipping\.inbox_messages\n/);
  expect(text).toContain("Lowest ack floor: stream seq 3 (shipping)\n");
  expect(text).toContain(
    `Safe to purge up to stream seq 3 (\`nats stream purge ${sales.stream} --seq 4\` keeps 4 on)`,
  );
});

test("with the newest message deleted, stream:view --last shows the ones before it and --from it none", async () => {
  // last_seq stays 7: the reads must neither wait for sequence 7 nor count it among the last n.
  expect(await sales.jsm.streams.deleteMessage(sales.stream, 7)).toBe(true);
  expect(await sequences({ last: 1, limit: 25 })).toEqual([6]);
  expect(await sequences({ last: 2, limit: 25 })).toEqual([5, 6]);
  expect(await sequences({ from: 7, limit: 25 })).toEqual([]);
  const result = await runScriptProcess(
    "orders/scripts/stream-view.ts",
    ["--json", "--last", "1"],
    env,
  );
  expect(result).toMatchObject({ code: 0, stderr: "" });
  expect(JSON.parse(result.stdout)).toMatchObject([{ sequence: 6 }]);
});
