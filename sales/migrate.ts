import { migrateDatabase, runScript, type ScriptSpec } from "shared";
import * as v from "valibot";
import { readSalesEnv } from "./env.ts";
import { MIGRATIONS } from "./main.ts";

export const spec = {
  command: "bun sales/migrate.ts",
  summary: "Applies Sales' migrations (schema sales, role sales), as Sales does when it starts.",
  options: {},
  optionHelp: [],
  schema: v.object({}),
  notes: ["Reads DATABASE_URL like the Sales process. Every module's schema: bun run migrate"],
} satisfies ScriptSpec<v.GenericSchema>;

await runScript(spec, async ({ json }) => {
  const { applied } = await migrateDatabase(readSalesEnv().DATABASE_URL, MIGRATIONS, {
    onWaiting: (holder) =>
      console.error(`sales: waiting for another migration of schema sales, held by ${holder}`),
  });
  console.log(
    json
      ? JSON.stringify({ schema: "sales", applied })
      : `sales: ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}`,
  );
  return 0;
});
