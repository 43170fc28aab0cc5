/**
 * `bun run migrate`: each module's migrations (`MODULES`: Sales', then Orders'), by its own
 * `migrate.ts` in a process of its own (as each service applies only its own schema). Stops at
 * the first failure.
 */
import os from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { MODULES } from "../architecture.ts";
import { runScript, type ScriptSpec } from "../cli.ts";

const ROOT = join(import.meta.dir, "..", "..");

const spec = {
  command: "bun run migrate",
  summary: `Applies the migrations of every module's schema (${MODULES.join(", then ")}) and the roles they create.`,
  options: {},
  optionHelp: [],
  schema: v.object({}),
  notes: [
    "Reads DATABASE_URL. With --json, one JSON line per schema: {schema, applied}.",
    `One schema alone: ${MODULES.map((module) => `bun ${module}/migrate.ts`).join(", ")}`,
  ],
} satisfies ScriptSpec<v.GenericSchema>;

await runScript(spec, async ({ json }) => {
  let child: Bun.Subprocess | undefined;
  let stoppedBy: NodeJS.Signals | undefined;
  // A supervisor's signal reaches this process alone: the migration in hand must stop too.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      stoppedBy = signal;
      child?.kill(signal);
    });
  }
  for (const module of MODULES) {
    if (stoppedBy) break;
    child = Bun.spawn(["bun", join(module, "migrate.ts"), ...(json ? ["--json"] : [])], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
    });
    const code = await child.exited;
    if (code !== 0) return code;
  }
  return stoppedBy ? 128 + (os.constants.signals[stoppedBy] ?? 0) : 0;
});
