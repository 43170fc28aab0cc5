import { jetstream } from "@nats-io/jetstream";
import { SALES_STREAM } from "contracts";
import {
  closeDatabase,
  connectNats,
  countOption,
  createDatabase,
  createLogger,
  formatCount,
  formatDuration,
  formatFields,
  natsNames,
  progressBar,
  runScript,
  type ScriptSpec,
} from "shared";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";
import {
  type RebuildProgress,
  type RebuildResult,
  rebuildProductCache,
} from "../infrastructure/product-cache-rebuild.ts";
import { integrationEventHandlers } from "../integration/handlers.ts";

export const spec = {
  command: "bun run orders:rebuild-cache",
  summary:
    "Rebuilds orders.product_cache by replaying stream SALES from its first message, while Orders runs.",
  options: { batch: { type: "string" }, prune: { type: "boolean" } },
  optionHelp: [
    "--batch <n>        messages replayed per write (default 500)",
    "--prune            delete cached products the stream does not mention, if the stream holds",
    "                   messages and every one since sequence 1 (default: keep them)",
  ],
  schema: v.object({
    batch: countOption(500, { min: 1, max: 10_000 }),
    prune: v.optional(v.boolean(), false),
  }),
  notes: [
    "Safe while Orders serves and applies events: reads go on, live updates wait a moment",
    "for the swap and are never lost or replaced by older versions. Progress goes to stderr.",
    "Use --prune only if the stream holds Sales' whole history: a stream recreated after NATS",
    "lost its store also starts at sequence 1, and pruning from it deletes products Orders needs.",
    "Exits 3 when --prune was asked for but the stream did not allow it: the cache was rebuilt,",
    "and the products the stream does not mention were kept.",
    "What it reads is what `nats stream view SALES` shows. Reads DATABASE_URL, DATABASE_ROLE,",
    "NATS_URL and NATS_NAMESPACE like the Orders process.",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

/** Writes a progress bar to a terminal (redrawn in place) or a line per 10% elsewhere. */
export function progressPrinter(stream: { isTTY?: boolean; write(text: string): unknown }) {
  let lastTenth = -1;
  return {
    update({ done, total }: RebuildProgress) {
      const bar = `Replaying ${progressBar(done, total)}`;
      if (stream.isTTY) {
        stream.write(`\r${bar}`);
        return;
      }
      const tenth = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (tenth > lastTenth) {
        lastTenth = tenth;
        stream.write(`${bar}\n`);
      }
    },
    end() {
      if (stream.isTTY) stream.write("\n");
    },
  };
}

/** Exit code of a rebuild that was asked to prune and could not (see `spec.notes`). */
export const PRUNE_NOT_APPLIED = 3;

/** True when `--prune` was asked for, products were left to prune, and the stream forbade it. */
export const pruneRefused = (result: RebuildResult, prune: boolean) =>
  prune && !result.complete && result.keptNotInStream > 0;

export function rebuildText(result: RebuildResult, ms: number, prune = false): string {
  const { skipped } = result;
  const lines = [
    result.lastSeq >= result.firstSeq
      ? `Rebuilt orders.product_cache from ${result.stream}, sequences ${formatCount(result.firstSeq)}-${formatCount(result.lastSeq)}`
      : `Rebuilt orders.product_cache from ${result.stream}, which holds no message`,
    ...formatFields([
      ["Messages read", formatCount(result.messagesRead)],
      ["Events handled", formatCount(result.eventsHandled)],
      [
        "Skipped",
        `${skipped.unreadable} unreadable, ${skipped.unhandled} not handled, ${skipped.failed} failed`,
      ],
      ["Products", formatCount(result.products)],
      ["Added", formatCount(result.added)],
      ["Replaced", formatCount(result.replaced)],
      ["Newer live rows kept", formatCount(result.newerKept)],
      [
        "Not in the stream",
        `${formatCount(result.keptNotInStream)} kept, ${formatCount(result.removed)} removed`,
      ],
      ["Took", formatDuration(ms)],
    ]),
  ];
  if (result.keptNotInStream > 0) lines.push("", ...keptText(result, prune));
  return `${lines.join("\n")}\n`;
}

function keptText(result: RebuildResult, prune: boolean): string[] {
  const { complete, keptNotInStream } = result;
  const kept = `${formatCount(keptNotInStream)} cached product(s) the stream does not mention`;
  if (!complete) {
    return [
      ...(pruneRefused(result, prune) ? ["--prune was not applied."] : []),
      `The stream is empty or no longer holds every message since sequence 1 (max_age or`,
      `deletes): the ${kept} were kept as they are.`,
    ];
  }
  return [
    `The ${kept} were kept as they are; --prune would delete them.`,
    `Prune only if the stream holds Sales' whole history (not one recreated after a loss).`,
  ];
}

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    const env = readOrdersEnv();
    const log = createLogger("orders:rebuild-cache", "warn", {
      write: (line: string) => void process.stderr.write(line),
    });
    const sql = createDatabase(env.DATABASE_URL, {
      name: "orders-rebuild-cache",
      // One holds the advisory lock, one the swap's transaction, one writes the catch-up.
      max: 4,
      role: env.DATABASE_ROLE || undefined,
    });
    const nc = await connectNats(env.NATS_URL, "orders-rebuild-cache");
    const progress = progressPrinter(process.stderr);
    const started = performance.now();
    try {
      const result = await rebuildProductCache({
        sql,
        js: jetstream(nc),
        stream: natsNames(env.NATS_NAMESPACE).stream(SALES_STREAM),
        handlers: integrationEventHandlers,
        log,
        batchSize: options.batch,
        prune: options.prune,
        onProgress: progress.update,
      });
      progress.end();
      const ms = performance.now() - started;
      process.stdout.write(
        json
          ? `${JSON.stringify({ ...result, ms: Math.round(ms) }, null, 2)}\n`
          : rebuildText(result, ms, options.prune),
      );
      return pruneRefused(result, options.prune) ? PRUNE_NOT_APPLIED : 0;
    } finally {
      await nc.close();
      await closeDatabase(sql);
    }
  });
}
