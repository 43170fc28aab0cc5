import { closeDatabase, createDatabase, runScript, type ScriptSpec, UsageError } from "shared";
import { queueForRepublish } from "shared/outbox";
import * as v from "valibot";
import { readSalesEnv } from "../env.ts";
import { SALES_OUTBOX } from "../infrastructure/outbox.ts";

export const spec = {
  command: "bun run outbox:republish",
  summary:
    "Queues outbox rows to be published again, by event id, since a time, or by stream sequence (sales.outbox_messages).",
  options: {
    id: { type: "string", multiple: true },
    since: { type: "string" },
    sequences: { type: "string" },
  },
  optionHelp: [
    "--id <uuid>        an event id (repeatable)",
    "--since <time>     every event that occurred at or after it (ISO 8601 with its zone, e.g.",
    "                   2026-11-27T10:00:00Z), except parked ones: those only by --id",
    "--sequences <a-b>  every event published at stream sequences a to b (e.g. 4-8, as Orders",
    "                   names the messages the stream removed before it read them), except",
    "                   parked ones",
  ],
  schema: v.object({
    id: v.optional(v.array(v.pipe(v.string(), v.uuid("must be an event id (a UUID)"))), []),
    since: v.optional(
      v.pipe(
        v.string(),
        v.isoTimestamp("must be an ISO 8601 time with its zone, e.g. 2026-11-27T10:00:00Z"),
        v.check(
          isRealTime,
          "must be a date that exists, its zone Z or ±hh:mm, e.g. 2026-11-27T10:00:00+01:00",
        ),
        v.transform((text) => new Date(text)),
      ),
    ),
    sequences: v.optional(
      v.pipe(
        v.string(),
        v.regex(/^[1-9]\d{0,14}-[1-9]\d{0,14}$/, "must be two stream sequences, e.g. 4-8"),
        v.transform((text) => {
          const [from, to] = text.split("-").map(Number) as [number, number];
          return { from, to };
        }),
        v.check(({ from, to }) => from <= to, "must go from the lower sequence to the higher"),
      ),
    ),
  }),
  notes: [
    "Several selections add up. A running Sales relay sends them at once (NOTIFY wakes it);",
    "otherwise Sales sends them when it starts. Safe at any time: the events keep their ids, so",
    "JetStream drops copies within its duplicate window (2 min) and Orders' inbox ignores the",
    "rest. A row whose message the stream dropped within that window (a purge, say) goes out once",
    "the window has passed. Exits 1 if an --id, or one of the --sequences, is not in the outbox",
    "(published rows are kept OUTBOX_RETENTION_MS). Reads DATABASE_URL and DATABASE_ROLE like",
    "Sales does.",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

/** A time `Date` reads as written: not `+01` (no minutes), not the 31st of February. */
function isRealTime(text: string): boolean {
  if (Number.isNaN(Date.parse(text))) return false;
  const [year, month, day] = text.slice(0, 10).split("-").map(Number) as [number, number, number];
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    if (options.id.length === 0 && !options.since && !options.sequences) {
      throw new UsageError("give --id, --since or --sequences");
    }
    const env = readSalesEnv();
    const sql = createDatabase(env.DATABASE_URL, {
      name: "outbox-republish",
      max: 1,
      role: env.DATABASE_ROLE || undefined,
    });
    try {
      const result = await queueForRepublish(sql, SALES_OUTBOX, {
        ids: options.id,
        since: options.since,
        sequences: options.sequences,
      });
      if (json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
      } else {
        const lines = [
          `outbox:republish: queued ${result.queued.length} row(s) to be published again`,
        ];
        lines.push(
          ...result.queued.map((id) => `  ${id}`),
          ...result.notFound.map((id) => `  not found: ${id}`),
        );
        if (result.sequencesNotFound) {
          lines.push(
            `  ${result.sequencesNotFound} of the sequences have no outbox row published there (deleted after OUTBOX_RETENTION_MS, never published by Sales, or sent again since at a later sequence, which holds it): those cannot be sent again from here`,
          );
        }
        process.stdout.write(`${lines.join("\n")}\n`);
      }
      return result.notFound.length > 0 || result.sequencesNotFound ? 1 : 0;
    } finally {
      await closeDatabase(sql);
    }
  });
}
