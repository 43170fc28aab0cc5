import { expect, test } from "bun:test";
import { freePort } from "../processes/free-port.ts";
import { startNatsServer } from "../processes/nats-server.ts";
import { testEnv, useIntegrationTimeout } from "../testing/test-environment.ts";
import { ensureNats, ensurePostgres, probeNats, probePostgres } from "./infrastructure-services.ts";

// It starts processes (or compiles schemas): more than 5 s on a loaded machine.
useIntegrationTimeout();

test("a Postgres probe tells working, silent and refusing servers apart", async () => {
  expect(await probePostgres(testEnv.DATABASE_URL)).toEqual({ state: "up" });
  const silent = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
  expect(await probePostgres(silent)).toEqual({ state: "down" });
  const refusing = new URL(testEnv.DATABASE_URL);
  refusing.username = "no_such_role_here";
  expect(await probePostgres(refusing.toString())).toMatchObject({
    state: "refused",
    reason: expect.stringContaining("no_such_role_here"),
  });
  // bun run dev says so, rather than start a second server on the same port.
  await expect(ensurePostgres(refusing.toString(), "/nonexistent", ".")).rejects.toThrow(
    "answers but refuses the connection",
  );
});

test("a NATS probe tells JetStream, silence and a server without JetStream apart", async () => {
  expect(await probeNats(testEnv.NATS_URL)).toEqual({ state: "up" });
  expect(await probeNats(`nats://127.0.0.1:${await freePort()}`)).toEqual({ state: "down" });
  const plain = await startNatsServer({ jetstream: false });
  try {
    expect(await probeNats(plain.url)).toMatchObject({ state: "refused" });
    await expect(ensureNats(plain.url, "/nonexistent", ".")).rejects.toThrow(
      "answers but with no JetStream",
    );
  } finally {
    await plain.dispose();
  }
});
