import { closeDatabase, countOption, createDatabase, runScript, type ScriptSpec } from "shared";
import { inboxStatusText, readInboxStatus } from "shared/inbox";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";
import { ORDERS_INBOX } from "../infrastructure/orders-inbox.ts";

export const spec = {
  command: "bun run inbox:status",
  summary: "What Orders' inbox has not applied yet, and why (orders.inbox_messages).",
  options: { errors: { type: "string" } },
  optionHelp: ["--errors <n>       how many of the latest errors to list (default 10)"],
  schema: v.object({ errors: countOption(10, { min: 1, max: 1000 }) }),
  notes: [
    "Reads DATABASE_URL and DATABASE_ROLE like the Orders process. The consumer side of the same question:",
    "  bun run streams   (nats consumer info SALES orders)",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    const env = readOrdersEnv();
    const sql = createDatabase(env.DATABASE_URL, {
      name: "inbox-status",
      max: 3,
      role: env.DATABASE_ROLE || undefined,
    });
    try {
      const status = await readInboxStatus(sql, ORDERS_INBOX, { errors: options.errors });
      process.stdout.write(
        json ? `${JSON.stringify(status, null, 2)}\n` : inboxStatusText(status, ORDERS_INBOX),
      );
      return 0;
    } finally {
      await closeDatabase(sql);
    }
  });
}
