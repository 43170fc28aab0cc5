import * as v from "valibot";

/** A numeric environment variable: digits only, within bounds, with a default. */
export function integerVariable(fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  return v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, "must be a whole number"),
      v.transform(Number),
      v.minValue(min, `must be at least ${min}`),
      v.maxValue(max, `must be at most ${max}`),
    ),
    String(fallback),
  );
}

/** The longest delay a timer can hold (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long a loop waits between runs, in milliseconds: no longer than a timer can hold. */
export const intervalVariable = (fallback: number, { min = 1 } = {}) =>
  integerVariable(fallback, { min, max: MAX_TIMER_MS });

/**
 * The longest time anything is kept, in milliseconds: 100 years. Longer ones break where they
 * are used: a stream's `max_age` is int64 nanoseconds, and Postgres' timestamps end.
 */
export const MAX_KEEP_MS = 100 * 365 * 24 * 60 * 60_000;

/** How long something is kept (a stream's messages, outbox or inbox rows), in milliseconds. */
export const keepVariable = (fallback: number, { min = 0 } = {}) =>
  integerVariable(fallback, { min, max: MAX_KEEP_MS });

/** `true` or `false`, with a default. */
export const booleanVariable = (fallback: boolean) =>
  v.optional(
    v.pipe(
      v.string(),
      v.picklist(["true", "false"], "must be true or false"),
      v.transform((value) => value === "true"),
    ),
    String(fallback),
  );

/** A TCP port; 0 asks the OS for a free one. */
export const portVariable = (fallback: number) => integerVariable(fallback, { min: 0, max: 65535 });

export const databaseUrlVariable = v.optional(
  v.pipe(
    v.string(),
    v.regex(/^postgres(ql)?:\/\/\S+$/, "must be a postgres:// URL"),
    v.check((value) => URL.canParse(value), "must be a postgres:// URL"),
  ),
  "postgres://postgres@127.0.0.1:5432/postgres",
);

export const natsUrlVariable = v.optional(
  v.pipe(
    v.string(),
    // The Node transport speaks the NATS protocol over TCP only, not over WebSocket (ws://).
    v.regex(
      /^(nats|tls):\/\/[^\s,]+(,\s*(nats|tls):\/\/[^\s,]+)*$/,
      "must be nats:// or tls:// URLs, separated by commas",
    ),
  ),
  "nats://127.0.0.1:4222",
);

/**
 * Prefixes the stream and subject names, so several environments (or test runs) can share
 * one NATS account. Empty in production: stream `SALES`, subjects `sales.>`.
 */
export const natsNamespaceVariable = v.optional(
  v.pipe(v.string(), v.regex(/^([a-z0-9_-]{1,32})?$/, "must be 1-32 of a-z, 0-9, _ and -")),
  "",
);

/** The role a module's runtime connection acts as (`SET ROLE`); empty to act as the user itself. */
export const databaseRoleVariable = (fallback: string) =>
  v.optional(
    v.pipe(v.string(), v.regex(/^([a-z_][a-z0-9_]{0,62})?$/, "must be a role name or empty")),
    fallback,
  );

export const logLevelVariable = v.optional(
  v.picklist(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
  "info",
);

export class EnvError extends Error {
  override readonly name = "EnvError";
}

/**
 * `text` (URLs separated by commas) with the user and password of each masked, up to its last
 * `@` (`nats://***@host`), and password or token parameters too: URLs carry credentials, and
 * logs, error lines and CI output must not.
 */
export function redactUrls(text: string): string {
  return text
    .split(/,(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i)
    .map((url) => url.replace(/^(\s*(?:[a-z][a-z0-9+.-]*:\/\/)?)[^?#]*@/i, "$1***@"))
    .join(",")
    .replace(/([?&][a-z_]*(?:password|passwd|pwd|token|secret)=)[^&#,\s]*/gi, "$1***");
}

/** Variables whose value is shown in no error line at all, whatever it looks like. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|KEY/i;

/**
 * Parses `source` with `schema`; the error names the first bad variable and what is wrong, and
 * shows the value unless it may hold a secret (credentials in a URL are masked).
 */
export function parseEnv<S extends v.GenericSchema>(
  schema: S,
  source: Record<string, string | undefined>,
): v.InferOutput<S> {
  const result = v.safeParse(schema, source);
  if (result.success) return result.output;
  const [issue] = result.issues;
  const name = issue ? (v.getDotPath(issue) ?? "environment") : "environment";
  const value = source[name];
  const shown =
    value === undefined || SECRET_NAME.test(name)
      ? ""
      : ` (got ${JSON.stringify(redactUrls(value))})`;
  throw new EnvError(`Invalid environment variable ${name}: ${issue?.message}${shown}`);
}

/** Like `parseEnv`, but prints the one line and exits 1: for the start of a process. */
export function loadEnv<S extends v.GenericSchema>(
  schema: S,
  source: Record<string, string | undefined> = process.env,
): v.InferOutput<S> {
  try {
    return parseEnv(schema, source);
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}
