import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, natsNames, runScript, type ScriptSpec, streamInfo, UsageError } from "shared";
import * as v from "valibot";
import { readSalesEnv } from "../env.ts";
import { SALES_OUTBOX } from "../infrastructure/outbox.ts";

export const spec = {
  command: "bun run stream:rm",
  summary:
    "Deletes stream SALES with its messages and consumers: for starting over in development.",
  options: { force: { type: "boolean", short: "f" } },
  optionHelp: ["-f, --force        delete it (required: what it holds cannot be brought back)"],
  schema: v.object({ force: v.optional(v.boolean(), false) }),
  notes: [
    "Like `nats stream rm -f SALES`. Stop Sales and Orders first: Sales creates the stream again,",
    "empty, when it starts, and Orders its consumer. Exits 1 if there is no such stream.",
    "Reads NATS_URL and NATS_NAMESPACE like Sales.",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    const env = readSalesEnv();
    const name = natsNames(env.NATS_NAMESPACE).stream(SALES_OUTBOX.stream);
    if (!options.force) {
      throw new UsageError(`this deletes stream ${name} and everything in it: give --force`);
    }
    const nc = await connectNats(env.NATS_URL, "stream-rm");
    try {
      const jsm = await jetstreamManager(nc);
      const info = await streamInfo(jsm, name);
      if (!info) throw new Error(`stream ${name} does not exist: nothing to delete`);
      await jsm.streams.delete(name);
      const { messages, consumer_count: consumers } = info.state;
      process.stdout.write(
        json
          ? `${JSON.stringify({ stream: name, deleted: true, messages, consumers })}\n`
          : `Deleted stream ${name} (${messages} message(s), ${consumers} consumer(s))\n`,
      );
      return 0;
    } finally {
      await nc.close();
    }
  });
}
