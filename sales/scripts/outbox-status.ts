import { closeDatabase, countOption, createDatabase, runScript, type ScriptSpec } from "shared";
import { outboxStatusText, readOutboxStatus } from "shared/outbox";
import * as v from "valibot";
import { readSalesEnv } from "../env.ts";
import { SALES_OUTBOX } from "../infrastructure/outbox.ts";

export const spec = {
  command: "bun run outbox:status",
  summary: "What Sales' outbox has not published yet, and why (sales.outbox_messages).",
  options: { errors: { type: "string" } },
  optionHelp: ["--errors <n>       how many of the latest errors to list (default 10)"],
  schema: v.object({ errors: countOption(10, { min: 1, max: 1000 }) }),
  notes: [
    "Reads DATABASE_URL and DATABASE_ROLE like the Sales process. The stream side of the same question:",
    "  bun run streams   (nats stream info SALES)",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    const env = readSalesEnv();
    const sql = createDatabase(env.DATABASE_URL, {
      name: "outbox-status",
      max: 3,
      role: env.DATABASE_ROLE || undefined,
    });
    try {
      const status = await readOutboxStatus(sql, SALES_OUTBOX, { errors: options.errors });
      process.stdout.write(
        json ? `${JSON.stringify(status, null, 2)}\n` : outboxStatusText(status, SALES_OUTBOX),
      );
      return 0;
    } finally {
      await closeDatabase(sql);
    }
  });
}
