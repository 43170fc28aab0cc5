/** One problem with an input: where (a dot path, "" for the whole input) and what. */
export type Issue = { path: string; message: string };

/** The input is malformed; HTTP 400 with every issue. */
export class ValidationError extends Error {
  override readonly name = "ValidationError";
  readonly code = "validation_failed";
  constructor(
    readonly issues: Issue[],
    options?: ErrorOptions,
  ) {
    super(issues.map((issue) => `${issue.path || "(body)"}: ${issue.message}`).join("; "), options);
  }
}

/** The addressed thing does not exist; HTTP 404. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
  readonly code = "not_found";
}

/** The request contradicts existing state, e.g. a duplicate key; HTTP 409. */
export class ConflictError extends Error {
  override readonly name = "ConflictError";
  readonly code = "conflict";
}

/** The input is well-formed but cannot be acted on, e.g. an unknown product; HTTP 422. */
export class UnprocessableError extends Error {
  override readonly name = "UnprocessableError";
  readonly code = "unprocessable";
  constructor(
    message: string,
    readonly issues: Issue[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A dependency (Postgres, NATS) is unreachable right now; HTTP 503. */
export class UnavailableError extends Error {
  override readonly name = "UnavailableError";
  readonly code = "unavailable";
}

/** A write ran out of time while committing: it may or may not have taken effect. */
export class OutcomeUnknownError extends Error {
  override readonly name = "OutcomeUnknownError";
  readonly code = "outcome_unknown";
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
