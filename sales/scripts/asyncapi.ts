import { join, relative } from "node:path";
import { runScript, type ScriptSpec } from "shared";
import * as v from "valibot";
import { asyncApiDocument } from "../api/asyncapi.ts";

/** Where `bun run asyncapi` writes by default: next to the module that publishes the events. */
export const ASYNCAPI_FILE = join(import.meta.dir, "..", "asyncapi.json");

export const spec = {
  command: "bun run asyncapi",
  summary:
    "Writes the AsyncAPI 3.0 document of Sales' events (from the contracts' valibot schemas).",
  options: { out: { type: "string" }, stdout: { type: "boolean" } },
  optionHelp: [
    "--out <file>       where to write it (default sales/asyncapi.json)",
    "--stdout           print the document instead of writing it",
  ],
  schema: v.object({
    out: v.optional(v.pipe(v.string(), v.minLength(1)), ASYNCAPI_FILE),
    stdout: v.optional(v.boolean(), false),
  }),
  notes: ["A running Sales serves the same document at GET /asyncapi.json."],
} satisfies ScriptSpec<v.GenericSchema>;

/** The document as written to the file: two-space JSON and a final newline. */
export const asyncApiText = () => `${JSON.stringify(asyncApiDocument(), null, 2)}\n`;

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    const text = asyncApiText();
    if (options.stdout) {
      process.stdout.write(text);
      return 0;
    }
    await Bun.write(options.out, text);
    const channels = Object.values(asyncApiDocument().channels).map(
      (channel) => (channel as { address: string }).address,
    );
    const file = relative(process.cwd(), options.out) || options.out;
    process.stdout.write(
      json
        ? `${JSON.stringify({ file, channels })}\n`
        : `Wrote ${file}: AsyncAPI 3.0, ${channels.length} channels (${channels.join(", ")})\n`,
    );
    return 0;
  });
}
