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
import { type OutboxStatus, readOutboxStatus } from "shared/outbox";
import * as v from "valibot";
import { readSalesEnv } from "../env.ts";
import { SALES_OUTBOX } from "../infrastructure/outbox.ts";

export const spec = {
  command: "bun run outbox:status",
  summary: "What Sales' outbox has not published yet, and why (sales.outbox_messages).",
  options: { errors: { type: "string" } },
  optionHelp: ["--errors <n>       how many of the latest errors to list (default 10)"],
  schema: v.object({ errors: countOption(10, { max: 1000 }) }),
  notes: [
    "Reads DATABASE_URL and DATABASE_ROLE like the Sales process. The stream side of the same question:",
    "  bun run streams   (nats stream info SALES)",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

/** The status as text for a terminal. */
export function outboxStatusText(status: OutboxStatus): string {
  return backlogText({
    title: "Outbox (sales.outbox_messages)",
    fields: [
      ["Pending", formatCount(status.pending)],
      ["Oldest pending", formatDuration(status.oldestPendingAgeMs)],
      ["Parked", formatCount(status.parked)],
      ["Published (1 h)", formatCount(status.publishedLastHour)],
    ],
    attempts: status.attempts,
    errors: {
      title: "Latest errors (newest events first)",
      header: ["id", "type", "state", "attempts", "error"],
      rows: status.latestErrors.map((e) => [
        e.id,
        e.type,
        e.state,
        String(e.attempts),
        oneLine(e.lastError),
      ]),
    },
  });
}

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
        json ? `${JSON.stringify(status, null, 2)}\n` : outboxStatusText(status),
      );
      return 0;
    } finally {
      await closeDatabase(sql);
    }
  });
}
