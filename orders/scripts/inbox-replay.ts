import { parseArgs } from "node:util";
import { closeDatabase, createDatabase } from "shared";
import { readOrdersEnv } from "../env.ts";
import { replayInboxRows } from "../infrastructure/inbox-replay.ts";
import { integrationEventHandlers } from "../integration/handlers.ts";

const HELP = `Usage: bun run inbox:replay (--id <inbox id>... | --all-dead) [--json]

Gives inbox rows another chance, then wakes a running Orders (NOTIFY):
  - a dead row (its handler failed INBOX_MAX_ATTEMPTS times) goes back to pending, attempts 0;
  - a parked row (unreadable when it arrived) is read again as received; if this version of
    Orders can read it, it is stored under its event id and handled like any other message.
Rows that are pending, processed or ignored are left alone.

  --id <uuid>     an inbox row id (repeatable; see bun run inbox:status)
  --all-dead      every dead row
  --json          print the outcomes as JSON
  --help          this text

Reads DATABASE_URL (and DATABASE_ROLE) like Orders does.`;

const { values } = parseArgs({
  options: {
    id: { type: "string", multiple: true },
    "all-dead": { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (!values.id?.length && !values["all-dead"]) {
  console.error("Give --id or --all-dead (see --help)");
  process.exit(2);
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
    { ids: values.id ?? [], allDead: values["all-dead"] ?? false },
    (type) => type in integrationEventHandlers,
  );
  if (values.json) {
    console.log(JSON.stringify(outcomes));
  } else {
    console.log(`inbox:replay: ${outcomes.length} row(s)`);
    for (const o of outcomes) {
      const detail =
        o.outcome === "reread"
          ? `read again as event ${o.eventId} (${o.status})`
          : o.outcome === "still unreadable"
            ? `still unreadable: ${o.reason}`
            : o.outcome === "not replayable"
              ? `is ${o.status}: nothing to replay`
              : o.outcome;
      console.log(`  ${o.id}  ${detail}`);
    }
  }
} finally {
  await closeDatabase(sql);
}
