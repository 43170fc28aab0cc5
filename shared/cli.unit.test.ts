import { expect, test } from "bun:test";
import { runScriptProcess } from "./testing/script-process.ts";
import { useIntegrationTimeout } from "./testing/test-environment.ts";

// It starts processes (or compiles schemas): more than 5 s on a loaded machine.
useIntegrationTimeout();

test("an operator script's output reaches a pipe whole, however long, with the script's exit code", async () => {
  const bytes = 500_000;
  const result = await runScriptProcess(
    "shared/testing/fixtures/long-output-script.ts",
    ["--bytes", String(bytes)],
    {},
  );
  expect(result.code).toBe(3);
  expect(result.stdout.length).toBe(bytes + 1);
});
