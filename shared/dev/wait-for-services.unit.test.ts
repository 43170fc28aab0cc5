import { expect, test } from "bun:test";
import { join } from "node:path";
import { useIntegrationTimeout } from "../testing/test-environment.ts";

// It starts processes (or compiles schemas): more than 5 s on a loaded machine.
useIntegrationTimeout();

test("CI's wait names what does not answer without the credentials in its URL", async () => {
  const run = Bun.spawn(["bun", join(import.meta.dir, "wait-for-services.ts")], {
    env: {
      ...process.env,
      DATABASE_URL: "postgres://ci:CiSecretPW@127.0.0.1:1/db",
      NATS_URL: "nats://tok3nSecret@127.0.0.1:1",
      WAIT_SECONDS: "0",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
  expect(exitCode).toBe(1);
  expect(stderr).toContain("Postgres at postgres://***@127.0.0.1:1/db");
  expect(stderr).toContain("NATS JetStream at nats://***@127.0.0.1:1");
  expect(stderr).not.toMatch(/CiSecretPW|tok3nSecret/);
});
