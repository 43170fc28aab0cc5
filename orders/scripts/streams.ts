import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, natsNames, runScript, type ScriptSpec } from "shared";
import { readStreamsReport, streamsText } from "shared/inbox";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";
import { ORDERS_INBOX } from "../infrastructure/orders-inbox.ts";

export const spec = {
  command: "bun run streams",
  summary:
    "Stream SALES, Orders' durable consumer `orders` on it and the stream's other consumers, as NATS sees them, with the lowest ack floor: how far a purge is safe.",
  options: {},
  optionHelp: [],
  schema: v.object({}),
  notes: [
    "Like `nats stream info SALES` and `nats consumer info SALES orders`.",
    "Reads NATS_URL and NATS_NAMESPACE like the Orders process.",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

if (import.meta.main) {
  await runScript(spec, async ({ json }) => {
    const env = readOrdersEnv();
    const nc = await connectNats(env.NATS_URL, "streams");
    try {
      const jsm = await jetstreamManager(nc);
      const report = await readStreamsReport(jsm, ORDERS_INBOX, natsNames(env.NATS_NAMESPACE));
      process.stdout.write(
        json ? `${JSON.stringify(report, null, 2)}\n` : streamsText(report, ORDERS_INBOX),
      );
      return 0;
    } finally {
      await nc.close();
    }
  });
}
