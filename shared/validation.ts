import * as v from "valibot";
import { type Issue, ValidationError } from "./errors.ts";

/** Valibot issues as `{ path, message }` pairs, `path` a dot path. */
export function toIssues(issues: readonly v.BaseIssue<unknown>[], prefix = ""): Issue[] {
  return issues.map((issue) => ({
    path: [prefix, v.getDotPath(issue)].filter(Boolean).join("."),
    message: issue.message,
  }));
}

/** Parses `value` with `schema` or throws a `ValidationError` listing every issue. */
export function parseOrThrow<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  prefix = "",
): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) throw new ValidationError(toIssues(result.issues, prefix));
  return result.output;
}

/** Path parameters of a resource addressed by `/:id`, a UUID. */
export const IdParam = v.object({ id: v.pipe(v.string(), v.uuid("must be a UUID")) });

/** Keyset paging: `?limit=1..100` (default 50) and `?after=<the last id of the previous page>`. */
export const PageQuery = v.object({
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,3}$/, "must be 1-100"),
      v.transform(Number),
      v.minValue(1),
      v.maxValue(100),
    ),
    "50",
  ),
  after: v.optional(v.pipe(v.string(), v.uuid("must be the last id of the previous page"))),
});

/**
 * An optional `Idempotency-Key` header: a client that repeats a request with the same key (say,
 * after a 503 `outcome_unknown`) gets what the first one did instead of doing it twice.
 */
export const IdempotencyKeyHeader = v.object({
  "idempotency-key": v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[\x21-\x7e]{1,255}$/, "must be 1-255 visible ASCII characters"),
      v.description("Repeat a request with the same key to get its outcome, not a second one"),
    ),
  ),
});
