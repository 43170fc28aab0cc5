import { parseArgs } from "node:util";
import { closeDatabase, createDatabase } from "shared";
import { readSalesEnv } from "../env.ts";
import { queueForRepublish } from "../infrastructure/outbox-republish.ts";

const HELP = `Usage: bun run outbox:republish [--id <event id>]... [--since <ISO time>] [--json]

Queues outbox rows to be published again: the rows with the given event ids, and/or every row
whose event occurred at or after --since. A running Sales relay sends them at once (it is woken
with NOTIFY); otherwise Sales sends them when it starts. Safe at any time: the events keep their
ids, so JetStream drops copies within its duplicate window and Orders' inbox ignores the rest.

  --id <uuid>       an event id (repeatable)
  --since <time>    e.g. 2026-11-27T10:00:00Z
  --json            print the result as JSON
  --help            this text

Reads DATABASE_URL (and DATABASE_ROLE) like Sales does.`;

const { values } = parseArgs({
  options: {
    id: { type: "string", multiple: true },
    since: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const since = values.since ? new Date(values.since) : undefined;
if ((since && Number.isNaN(since.getTime())) || (!values.id?.length && !since)) {
  console.error(
    since ? `--since: not a time: ${values.since}` : "Give --id and/or --since (see --help)",
  );
  process.exit(2);
}

const env = readSalesEnv();
const sql = createDatabase(env.DATABASE_URL, {
  name: "outbox-republish",
  max: 1,
  role: env.DATABASE_ROLE || undefined,
});
try {
  const result = await queueForRepublish(sql, { ids: values.id ?? [], since });
  if (values.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(`outbox:republish: queued ${result.queued.length} row(s) to be published again`);
    for (const id of result.queued) console.log(`  ${id}`);
    for (const id of result.notFound) console.log(`  not found: ${id}`);
  }
} finally {
  await closeDatabase(sql);
}
