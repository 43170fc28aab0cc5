import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import * as v from "valibot";
import { errorMessage } from "./errors.ts";
import { toIssues } from "./validation.ts";

export type ScriptSpec<S extends v.GenericSchema> = {
  /** How it is run, e.g. `bun run outbox:status`. */
  command: string;
  /** One line: what it shows or does. */
  summary: string;
  /** The options besides `--help` and `--json`, as `node:util` `parseArgs` takes them. */
  options: ParseArgsOptionsConfig;
  /** One line per option for `--help`, e.g. `--last <n>   the last n messages`. */
  optionHelp: string[];
  /** Validates the parsed options (valibot at the edge); its output goes to `run`. */
  schema: S;
  /** More lines for `--help`: the equivalent `nats` command, the settings it reads. */
  notes?: string[];
};

/** What `run` gets: the validated options and whether `--json` was asked for. */
export type ScriptContext<O> = { options: O; json: boolean };

/** The command line was wrong: exit 2 with the message and a pointer to `--help`. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Runs an operator script: parses and validates its arguments, answers `--help`, runs it and
 * exits 0, 1 on failure (one line on stderr), 2 on a bad command line.
 */
export async function runScript<S extends v.GenericSchema>(
  spec: ScriptSpec<S>,
  run: (context: ScriptContext<v.InferOutput<S>>) => Promise<number | undefined>,
  argv: string[] = process.argv.slice(2),
): Promise<void> {
  let context: ScriptContext<v.InferOutput<S>>;
  try {
    const parsed = parseScriptArgs(spec, argv);
    if (parsed === "help") {
      process.stdout.write(helpText(spec));
      return exitAfterOutput(0);
    }
    context = parsed;
  } catch (error) {
    process.stderr.write(`${spec.command}: ${errorMessage(error)}\nTry ${spec.command} --help\n`);
    return exitAfterOutput(2);
  }
  try {
    return exitAfterOutput((await run(context)) ?? 0);
  } catch (error) {
    const usage = error instanceof UsageError;
    const hint = usage
      ? `\nTry ${spec.command} --help`
      : isMissingTable(error)
        ? "\nHas the database been migrated? bun run migrate (or start the module once)"
        : "";
    process.stderr.write(`${spec.command}: ${errorMessage(error)}${hint}\n`);
    // Soon: what failed may have left a socket open (nats.js keeps one after a timed-out connect).
    return exitAfterOutput(usage ? 2 : 1, FAILURE_GRACE_MS);
  }
}

/** Postgres' "undefined table" or "invalid schema name": the database is not migrated. */
function isMissingTable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "42P01" || code === "3F000";
}

const OUTPUT_GRACE_MS = 10_000;
const FAILURE_GRACE_MS = 1_000;

/**
 * Ends the script with `code` once its output is out. Not `process.exit()`: Bun drops what a pipe
 * has not taken yet, so a reader slower than the script got only the first 64 KiB of a long
 * `--json`. A script that left something open still ends, after a grace period.
 */
function exitAfterOutput(code: number, graceMs = OUTPUT_GRACE_MS): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), graceMs).unref();
}

/** The validated options, or `"help"`; throws a `UsageError` naming what is wrong. */
export function parseScriptArgs<S extends v.GenericSchema>(
  spec: ScriptSpec<S>,
  argv: string[],
): ScriptContext<v.InferOutput<S>> | "help" {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        ...spec.options,
        help: { type: "boolean", short: "h" },
        json: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  if (values.help) return "help";
  const { help: _, json, ...options } = values;
  const result = v.safeParse(spec.schema, options);
  if (!result.success) {
    const [issue] = toIssues(result.issues);
    // The option, not the item of it (`--id`, not `--id.0`).
    const option = issue?.path.split(".")[0];
    throw new UsageError(option ? `--${option}: ${issue?.message}` : `${issue?.message}`);
  }
  return { options: result.output, json: json === true };
}

export function helpText(spec: ScriptSpec<v.GenericSchema>): string {
  // The built-in options line up with the script's own: their descriptions start in one column.
  const column = Math.max(
    19,
    ...spec.optionHelp.map((line) => /^-\S.*?\s{2,}/.exec(line)?.[0].length ?? 0),
  );
  const lines = [
    spec.summary,
    "",
    `Usage: ${spec.command} [options]`,
    "",
    "Options:",
    ...spec.optionHelp.map((line) => `  ${line}`),
    `  ${"--json".padEnd(column)}machine-readable output (JSON) instead of text`,
    `  ${"-h, --help".padEnd(column)}this help`,
  ];
  if (spec.notes?.length) lines.push("", ...spec.notes);
  return `${lines.join("\n")}\n`;
}

function countSchema({ min = 0, max = 1_000_000_000 }: { min?: number; max?: number }) {
  return v.pipe(
    v.string(),
    v.regex(/^\d+$/, "must be a whole number"),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );
}

/** An option given as digits: a whole number within bounds, `fallback` when absent. */
export function countOption(fallback: number, bounds: { min?: number; max?: number } = {}) {
  return v.optional(countSchema(bounds), String(fallback));
}

/** Like `countOption`, but undefined when absent. */
export function optionalCountOption(bounds: { min?: number; max?: number } = {}) {
  return v.optional(countSchema(bounds));
}
