import { expect, test } from "bun:test";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { SALES_SUBJECTS } from "contracts";
import { connectNats, natsNames, streamInfo } from "shared";
import { afterTests } from "shared/testing/cleanup.ts";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { testEnv, uniqueId } from "shared/testing/test-environment.ts";
import { SALES_OUTBOX } from "../infrastructure/outbox.ts";

const namespace = `t${uniqueId()}`;
const names = natsNames(namespace);
const stream = names.stream(SALES_OUTBOX.stream);
const env = { NATS_URL: testEnv.NATS_URL, NATS_NAMESPACE: namespace };
const streamRemove = (...args: string[]) =>
  runScriptProcess("sales/scripts/stream-remove.ts", args, env);

const nc = await connectNats(testEnv.NATS_URL);
const jsm = await jetstreamManager(nc);
afterTests(async () => {
  if (await streamInfo(jsm, stream)) await jsm.streams.delete(stream);
  await nc.close();
});

// The stream as Sales and Orders leave it: two messages and Orders' consumer.
await jsm.streams.add({ name: stream, subjects: [names.subject(SALES_SUBJECTS)] });
const js = jetstream(nc);
for (const id of ["a", "b"]) await js.publish(names.subject("sales.product.created.v1"), id);
await jsm.consumers.add(stream, { durable_name: "orders", ack_policy: AckPolicy.Explicit });

test("without --force it deletes nothing and says how to go on (exit 2)", async () => {
  const result = await streamRemove();
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(
    `this deletes stream ${stream} and everything in it: give --force`,
  );
  expect((await streamInfo(jsm, stream))?.state.messages).toBe(2);
});

test("--force deletes the stream with its messages and consumers, and says what went", async () => {
  const result = await streamRemove("--force", "--json");
  expect(result).toMatchObject({ code: 0, stderr: "" });
  expect(JSON.parse(result.stdout)).toEqual({ stream, deleted: true, messages: 2, consumers: 1 });
  expect(await streamInfo(jsm, stream)).toBeUndefined();
});

test("a stream that is not there is an error (exit 1), not a silent success", async () => {
  const result = await streamRemove("-f");
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`stream ${stream} does not exist: nothing to delete`);
});
