import {
  backlogText,
  closeDatabase,
  countOption,
  createDatabase,
  formatCount,
  formatDuration,
  oneLine,
  runScript,
  type ScriptSpec,
} from "shared";
import { type InboxStatus, readInboxStatus } from "shared/inbox";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";
import { ORDERS_INBOX } from "../infrastructure/orders-inbox.ts";

export const spec = {
  command: "bun run inbox:status",
  summary: "What Orders' inbox has not applied yet, and why (orders.inbox_messages).",
  options: { errors: { type: "string" } },
  optionHelp: ["--errors <n>       how many of the latest errors to list (default 10)"],
  schema: v.object({ errors: countOption(10, { max: 1000 }) }),
  notes: [
    "Reads DATABASE_URL and DATABASE_ROLE like the Orders process. The consumer side of the same question:",
    "  bun run streams   (nats consumer info SALES orders)",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

/** The status as text for a terminal. */
export function inboxStatusText(status: InboxStatus): string {
  return backlogText({
    title: "Inbox (orders.inbox_messages)",
    fields: [
      ["Pending", formatCount(status.pending)],
      ["Oldest pending", formatDuration(status.oldestPendingAgeMs)],
      ["Dead", formatCount(status.dead)],
      ["Parked", formatCount(status.parked)],
    ],
    attempts: status.attempts,
    errors: {
      title: "Latest errors (most recently received first)",
      header: ["id", "stream seq", "type", "status", "attempts", "error"],
      rows: status.latestErrors.map((e) => [
        e.id,
        String(e.streamSequence),
        e.type ?? "(unreadable)",
        e.status,
        String(e.attempts),
        oneLine(e.lastError),
      ]),
    },
  });
}

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
      process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : inboxStatusText(status));
      return 0;
    } finally {
      await closeDatabase(sql);
    }
  });
}
