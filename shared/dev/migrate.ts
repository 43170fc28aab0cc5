/**
 * `bun run migrate`: Sales' migrations, then Orders', each by its module's own `migrate.ts` in a
 * process of its own (as each service applies only its own schema). Stops at the first failure.
 */
import { join } from "node:path";
import * as v from "valibot";
import { runScript, type ScriptSpec } from "../cli.ts";

const ROOT = join(import.meta.dir, "..", "..");
const MODULES = ["sales", "orders"] as const;

const spec = {
  command: "bun run migrate",
  summary: "Applies the migrations of both schemas (sales, then orders) and the roles they create.",
  options: {},
  optionHelp: [],
  schema: v.object({}),
  notes: [
    "Reads DATABASE_URL. With --json, one JSON line per schema: {schema, applied}.",
    "One schema alone: bun sales/migrate.ts, bun orders/migrate.ts",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

await runScript(spec, async ({ json }) => {
  for (const module of MODULES) {
    const child = Bun.spawn(["bun", join(module, "migrate.ts"), ...(json ? ["--json"] : [])], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
    });
    const code = await child.exited;
    if (code !== 0) return code;
  }
  return 0;
});
