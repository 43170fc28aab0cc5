import { afterAll, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  connectNats,
  ensureStream,
  StreamOfAnotherError,
  startNatsLink,
  streamInfo,
} from "./nats.ts";
import { startNatsServer } from "./processes/nats-server.ts";
import { captureLogger, silentLogger } from "./testing/silent-logger.ts";
import { testEnv, uniqueId, useIntegrationTimeout, waitFor } from "./testing/test-environment.ts";

useIntegrationTimeout();

const nc = await connect({ servers: testEnv.NATS_URL });
const jsm = await jetstreamManager(nc);
const id = uniqueId();
const spec = {
  name: `ENSURE_${id}`,
  subjects: [`ensure-${id}.>`],
  maxAgeMs: 60_000,
  duplicateWindowMs: 30_000,
};

afterAll(async () => {
  await jsm.streams.delete(spec.name).catch(() => {});
  await nc.close();
});

test("ensureStream creates the stream, then leaves it alone, then updates what changed", async () => {
  const created = await ensureStream(jsm, spec);
  expect(created.outcome).toBe("created");
  expect(created.info.config).toMatchObject({
    subjects: spec.subjects,
    retention: "limits",
    storage: "file",
    max_age: nanos(60_000),
    duplicate_window: nanos(30_000),
  });

  expect((await ensureStream(jsm, spec)).outcome).toBe("unchanged");

  const updated = await ensureStream(jsm, { ...spec, maxAgeMs: 120_000 });
  expect(updated.outcome).toBe("updated");
  expect((await jsm.streams.info(spec.name)).config.max_age).toBe(nanos(120_000));
  expect((await ensureStream(jsm, { ...spec, maxAgeMs: 120_000 })).outcome).toBe("unchanged");
});

test("ensureStream names the publisher in the description, taking over a stream described otherwise, and leaves another publisher's alone", async () => {
  const name = `OWNED_${id}`;
  const owned = { ...spec, name, subjects: [`owned${id}.>`], publisher: "a.outbox_messages" };
  await jsm.streams.add({ name, subjects: owned.subjects, description: "an operator's note" });
  try {
    const adopted = await ensureStream(jsm, owned);
    expect(adopted.outcome).toBe("updated");
    expect(adopted.info.config.description).toBe("published from a.outbox_messages");
    expect((await ensureStream(jsm, owned)).outcome).toBe("unchanged");

    const another = { ...owned, subjects: [`another${id}.>`], publisher: "b.outbox_messages" };
    await expect(ensureStream(jsm, another)).rejects.toBeInstanceOf(StreamOfAnotherError);
    await expect(ensureStream(jsm, another)).rejects.toThrow(
      `stream ${name} is another publisher's (its description: "published from a.outbox_messages")`,
    );
    expect((await jsm.streams.info(name)).config).toMatchObject({
      subjects: owned.subjects,
      description: "published from a.outbox_messages",
    });
  } finally {
    await jsm.streams.delete(name);
  }
});

test("streamInfo tells a missing stream from an existing one", async () => {
  expect(await streamInfo(jsm, `MISSING_${id}`)).toBeUndefined();
  await ensureStream(jsm, spec);
  expect((await streamInfo(jsm, spec.name))?.config.name).toBe(spec.name);
});

test("a NATS link that cannot connect logs its URL without the credentials", async () => {
  const server = await startNatsServer();
  await server.stop();
  const logs = captureLogger("link");
  const url = server.url.replace("nats://", "nats://alice:S3cret@");
  const link = startNatsLink({ url, name: "secret", log: logs.log, retryMs: 10 });
  try {
    const line = await waitFor(
      () => logs.lines.find((line) => line.msg === "nats unreachable, retrying"),
      { message: "a failed first attempt" },
    );
    expect(line.url).toBe(server.url.replace("nats://", "nats://***@"));
    expect(JSON.stringify(logs.lines)).not.toContain("S3cret");
  } finally {
    await link.close();
    await server.dispose();
  }
});

test("a NATS link keeps trying until the server answers", async () => {
  const server = await startNatsServer();
  await server.stop();
  const logs = captureLogger("link");
  const link = startNatsLink({ url: server.url, name: "later", log: logs.log, retryMs: 10 });
  try {
    await waitFor(() => logs.lines.some((line) => line.msg === "nats unreachable, retrying"), {
      message: "a failed first attempt",
    });
    expect(link.isConnected).toBe(false);
    expect(link.connection).toBeUndefined();
    await server.start();
    await waitFor(() => link.isConnected, { message: "the link to connect once the server is up" });
  } finally {
    await link.close();
    await server.dispose();
  }
});

test("a NATS link can be closed while it is still trying, and closes its connection", async () => {
  const link = startNatsLink({
    url: "nats://127.0.0.1:1",
    name: "unreachable",
    log: silentLogger,
    retryMs: 10,
  });
  expect(link.isConnected).toBe(false);
  await link.close();

  const reachable = startNatsLink({ url: testEnv.NATS_URL, name: "reachable", log: silentLogger });
  const connection = await reachable.connected;
  expect(reachable.isConnected).toBe(true);
  await reachable.close();
  expect(connection.isClosed()).toBe(true);
});

test("a NATS link whose connection the client closed for good connects afresh", async () => {
  let connects = 0;
  const link = startNatsLink({
    url: testEnv.NATS_URL,
    name: "closed-for-good",
    log: silentLogger,
    retryMs: 10,
    onConnect: () => connects++,
  });
  try {
    const first = await link.connected;
    const generation = link.generation;
    await first.close(); // as the client does after a fatal error
    await waitFor(() => link.isConnected && link.connection !== first, {
      message: "a new connection",
    });
    expect(link.generation).toBe(generation + 1);
    expect(connects).toBe(2);
  } finally {
    await link.close();
  }
  expect(link.connection?.isClosed()).toBe(true);
});

test("a NATS link notices a server that stopped answering, and reconnects when it answers", async () => {
  const server = await startNatsServer();
  const link = startNatsLink({
    url: server.url,
    name: "frozen",
    log: silentLogger,
    retryMs: 10,
    pingIntervalMs: 100,
  });
  try {
    await link.connected;
    server.freeze();
    await waitFor(() => !link.isConnected, { message: "the link to see the connection is dead" });
    server.thaw();
    await waitFor(() => link.isConnected, { message: "the link to reconnect" });
  } finally {
    await link.close();
    await server.dispose();
  }
});

test("closing a NATS link does not wait on a server that stopped answering", async () => {
  const server = await startNatsServer();
  const link = startNatsLink({
    url: server.url,
    name: "frozen-close",
    log: silentLogger,
    drainTimeLimitMs: 100,
  });
  try {
    const connection = await link.connected;
    server.freeze();
    // The default pings would take 20 s or more to see that the server is gone.
    await link.close();
    expect(connection.isClosed()).toBe(true);
  } finally {
    await server.dispose();
  }
});

test("a NATS link whose onConnect throws logs it and keeps its one connection", async () => {
  const logs = captureLogger("link");
  const link = startNatsLink({
    url: testEnv.NATS_URL,
    name: "throwing-on-connect",
    log: logs.log,
    retryMs: 10,
    onConnect: () => {
      throw new Error("wake-up failed");
    },
  });
  try {
    await link.connected;
    expect(logs.lines.find((line) => line.msg === "nats onConnect failed")?.err).toBe(
      "wake-up failed",
    );
    expect(link.generation).toBe(1);
    expect(logs.lines.some((line) => line.msg === "nats unreachable, retrying")).toBe(false);
  } finally {
    await link.close();
  }
});

test("a tool's connection to a server that does not answer fails, naming the server", async () => {
  // Accepts the connection and never says a word, as a frozen server would.
  const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const url = `nats://user:secret@127.0.0.1:${silent.port}`;
    const failure = await connectNats(url, "tool", { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(String(failure)).toContain(
      `cannot connect to NATS at nats://***@127.0.0.1:${silent.port}: no answer within 200 ms`,
    );
  } finally {
    silent.stop(true);
  }
});
