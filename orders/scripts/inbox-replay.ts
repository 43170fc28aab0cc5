import { closeDatabase, createDatabase, runScript, type ScriptSpec, UsageError } from "shared";
import { type ReplayOutcome, replayInboxRows } from "shared/inbox";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";
import { ORDERS_INBOX } from "../infrastructure/orders-inbox.ts";
import { handlesEventType } from "../integration/handlers.ts";

export const spec = {
  command: "bun run inbox:replay",
  summary: "Gives dead, parked or ignored inbox rows another chance (orders.inbox_messages).",
  options: {
    id: { type: "string", multiple: true },
    "all-dead": { type: "boolean" },
    "all-ignored": { type: "boolean" },
  },
  optionHelp: [
    "--id <uuid>        an inbox row id (repeatable; see bun run inbox:status)",
    "--all-dead         every dead row",
    "--all-ignored      every ignored row of a type this version handles",
  ],
  schema: v.object({
    id: v.optional(v.array(v.pipe(v.string(), v.uuid("must be an inbox row id (a UUID)"))), []),
    "all-dead": v.optional(v.boolean(), false),
    "all-ignored": v.optional(v.boolean(), false),
  }),
  notes: [
    "A dead row (its handler failed INBOX_MAX_ATTEMPTS times) goes back to pending, attempts 0.",
    "A parked row (unreadable when it arrived) is read again as received; if this version of",
    "Orders can read it, it is stored under its event id and handled like any other message.",
    "An ignored row (no handler for its type when it arrived, e.g. on an instance not yet",
    "upgraded) goes back to pending if this version handles its type.",
    "Pending and processed rows are left alone. A running Orders is woken (NOTIFY).",
    "Exits 1 if an --id is not in the inbox. Reads DATABASE_URL and DATABASE_ROLE like Orders does.",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

function describe(outcome: ReplayOutcome): string {
  switch (outcome.outcome) {
    case "reread":
      return `read again as event ${outcome.eventId} (${outcome.status})`;
    case "still unreadable":
      return `still unreadable: ${outcome.reason}`;
    case "still not handled":
      return `no handler for ${outcome.type ?? "its type"} in this version: left ignored`;
    case "not replayable":
      return `is ${outcome.status}: nothing to replay`;
    default:
      return outcome.outcome;
  }
}

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    const allDead = options["all-dead"];
    const allIgnored = options["all-ignored"];
    if (options.id.length === 0 && !allDead && !allIgnored) {
      throw new UsageError("give --id, --all-dead or --all-ignored");
    }
    const env = readOrdersEnv();
    const sql = createDatabase(env.DATABASE_URL, {
      name: "inbox-replay",
      max: 1,
      role: env.DATABASE_ROLE || undefined,
    });
    try {
      const outcomes = await replayInboxRows(
        sql,
        ORDERS_INBOX,
        { ids: options.id, allDead, allIgnored },
        handlesEventType,
      );
      if (json) {
        process.stdout.write(`${JSON.stringify(outcomes)}\n`);
      } else {
        const replayed = outcomes.filter(
          (o) => o.outcome === "requeued" || o.outcome === "reread",
        ).length;
        const lines = [
          `inbox:replay: ${replayed} of ${outcomes.length} row(s) given another chance`,
          ...outcomes.map((o) => `  ${o.id}  ${describe(o)}`),
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      }
      return outcomes.some((o) => o.outcome === "not found") ? 1 : 0;
    } finally {
      await closeDatabase(sql);
    }
  });
}
