import { expect, test } from "bun:test";
import * as v from "valibot";
import { helpText, parseScriptArgs, type ScriptSpec } from "./cli.ts";
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

test("--help lines up --json and --help with the script's own options, however wide", () => {
  const descriptionColumns = (optionHelp: string[]) => {
    const text = helpText({
      command: "bun run x",
      summary: "X.",
      options: {},
      optionHelp,
      schema: v.object({}),
    });
    return text
      .split("\n")
      .filter((line) => line.startsWith("  -"))
      .map((line) => /^ {2}-\S.*?\s{2,}/.exec(line)?.[0].length);
  };
  expect(new Set(descriptionColumns(["--subject <filter>  only these subjects"]))).toEqual(
    new Set([22]),
  );
  expect(
    new Set(descriptionColumns(["--id <uuid>        an id", "                   more"])),
  ).toEqual(new Set([21]));
  expect(new Set(descriptionColumns([]))).toEqual(new Set([21]));
});

test("a usage error names the option, not the item of a repeated one", () => {
  const spec = {
    command: "bun run x",
    summary: "X.",
    options: { id: { type: "string", multiple: true } },
    optionHelp: [],
    schema: v.object({ id: v.array(v.pipe(v.string(), v.uuid("must be a UUID"))) }),
  } satisfies ScriptSpec<v.GenericSchema>;
  expect(() => parseScriptArgs(spec, ["--id", "nope"])).toThrow("--id: must be a UUID");
});
