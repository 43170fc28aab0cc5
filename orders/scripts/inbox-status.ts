import {
  closeDatabase,
  countOption,
  createDatabase,
  formatCount,
  formatDuration,
  formatFields,
  formatTable,
  runScript,
  type ScriptSpec,
} from "shared";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";
import { type InboxStatus, readInboxStatus } from "../infrastructure/inbox-status.ts";

export const spec = {
  command: "bun run inbox:status",
  summary: "What Orders' inbox has not applied yet, and why (orders.inbox_messages).",
  options: { errors: { type: "string" } },
  optionHelp: ["--errors <n>       how many of the latest errors to list (default 10)"],
  schema: v.object({ errors: countOption(10, { max: 1000 }) }),
  notes: [
    "Reads DATABASE_URL like the Orders process. The consumer side of the same question:",
    "  bun run streams   (nats consumer info SALES orders)",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

/** The status as text for a terminal. */
export function inboxStatusText(status: InboxStatus): string {
  const lines = [
    "Inbox (orders.inbox_messages)",
    ...formatFields([
      ["Pending", formatCount(status.pending)],
      ["Oldest pending", formatDuration(status.oldestPendingAgeMs)],
      ["Dead", formatCount(status.dead)],
      ["Parked", formatCount(status.parked)],
    ]),
    "",
    "Pending rows by failed attempts",
    ...(status.attempts.length === 0
      ? ["  (none pending)"]
      : formatTable(
          ["attempts", "rows"],
          status.attempts.map((a) => [String(a.attempts), formatCount(a.rows)]),
        )),
    "",
    "Latest errors (most recently received first)",
    ...(status.latestErrors.length === 0
      ? ["  (none)"]
      : formatTable(
          ["id", "stream seq", "type", "status", "attempts", "error"],
          status.latestErrors.map((e) => [
            e.id,
            String(e.streamSequence),
            e.type ?? "(unreadable)",
            e.status,
            String(e.attempts),
            e.lastError.replace(/\s+/g, " ").slice(0, 120),
          ]),
        )),
  ];
  return `${lines.join("\n")}\n`;
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
      const status = await readInboxStatus(sql, { errors: options.errors });
      process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : inboxStatusText(status));
      return 0;
    } finally {
      await closeDatabase(sql);
    }
  });
}
