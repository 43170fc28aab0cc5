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
