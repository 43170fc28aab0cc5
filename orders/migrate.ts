import { migrateDatabase, runScript, type ScriptSpec } from "shared";
import * as v from "valibot";
import { readOrdersEnv } from "./env.ts";
import { MIGRATIONS } from "./main.ts";

export const spec = {
  command: "bun orders/migrate.ts",
  summary:
    "Applies Orders' migrations (schema orders, role orders), as Orders does when it starts.",
  options: {},
  optionHelp: [],
  schema: v.object({}),
  notes: ["Reads DATABASE_URL like the Orders process. Every module's schema: bun run migrate"],
} satisfies ScriptSpec<v.GenericSchema>;

await runScript(spec, async ({ json }) => {
  const { applied } = await migrateDatabase(readOrdersEnv().DATABASE_URL, MIGRATIONS, {
    onWaiting: (holder) =>
      console.error(`orders: waiting for another migration of schema orders, held by ${holder}`),
  });
  console.log(
    json
      ? JSON.stringify({ schema: "orders", applied })
      : `orders: ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}`,
  );
  return 0;
});
