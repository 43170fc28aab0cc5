import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { timeout } from "hono/timeout";
import { validator } from "hono/validator";
import type * as v from "valibot";
import { isDatabaseUnavailable } from "./database.ts";
import { errorMessage, type Issue, UnavailableError, ValidationError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { parseOrThrow } from "./validation.ts";

/** A readiness check: resolves true when the dependency answers. */
export type ReadinessChecks = Record<string, () => Promise<boolean> | boolean>;

export type HttpAppOptions = {
  log: Logger;
  readiness: ReadinessChecks;
  maxBodyBytes?: number;
  /** A request still running after this is answered 503: a client never hangs. */
  requestTimeoutMs?: number;
};

const STATUS_BY_ERROR_NAME: Record<string, 400 | 404 | 409 | 422 | 503> = {
  ValidationError: 400,
  NotFoundError: 404,
  ConflictError: 409,
  UnprocessableError: 422,
  UnavailableError: 503,
};

/** Endpoints that must answer whatever the database does. */
const PROBES = new Set(["/health", "/ready"]);
const DATABASE_RETRY_AFTER_MS = 1_000;

/**
 * A Hono app with what every process serves the same way: JSON errors (named errors mapped to
 * 400/404/409/422/503, anything else a 500 without details), a JSON 404, a body size limit
 * (413), a time limit (503, so a request never hangs), one log line per request,
 * `GET /health` and `GET /ready`.
 */
export function createHttpApp({
  log,
  readiness,
  maxBodyBytes = 1024 * 1024,
  requestTimeoutMs = 5_000,
}: HttpAppOptions): Hono {
  const app = new Hono();

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        route: c.req.routePath,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      "request",
    );
  });
  app.use(
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        errorResponse(c, 413, "payload_too_large", `Body exceeds ${maxBodyBytes} bytes`),
    }),
  );

  app.use(
    timeout(
      requestTimeoutMs,
      () =>
        new UnavailableError(
          `The request took longer than ${requestTimeoutMs} ms; try again shortly`,
        ) as never,
    ),
  );

  // A circuit breaker: right after a request found Postgres unreachable, answer 503 at once
  // for a moment instead of queueing more requests behind connection attempts.
  let databaseDownUntil = 0;
  app.use(async (c, next) => {
    if (Date.now() < databaseDownUntil && !PROBES.has(c.req.path)) {
      throw new UnavailableError("The database is unavailable; try again shortly");
    }
    await next();
  });

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", async (c) => {
    const results = await Promise.all(
      Object.entries(readiness).map(async ([name, check]) => {
        const up = await Promise.resolve()
          .then(check)
          .catch(() => false);
        return [name, up ? "up" : "down"] as const;
      }),
    );
    const ready = results.every(([, state]) => state === "up");
    return c.json(
      { status: ready ? "ready" : "not ready", checks: Object.fromEntries(results) },
      ready ? 200 : 503,
    );
  });

  app.notFound((c) =>
    errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${c.req.path}`),
  );
  app.onError((error, c) => {
    const status = STATUS_BY_ERROR_NAME[error.name];
    if (status) {
      const { code, issues } = error as Error & { code: string; issues?: Issue[] };
      return errorResponse(c, status, code, error.message, issues);
    }
    if (error instanceof HTTPException) {
      return errorResponse(c, error.status, "http_error", error.message);
    }
    if (isDatabaseUnavailable(error)) {
      databaseDownUntil = Date.now() + DATABASE_RETRY_AFTER_MS;
      log.warn({ err: errorMessage(error), path: c.req.path }, "database unavailable");
      return errorResponse(c, 503, "unavailable", "The database is unavailable; try again shortly");
    }
    log.error({ err: error, path: c.req.path }, "unhandled error");
    return errorResponse(c, 500, "internal_error", "Internal server error");
  });
  return app;
}

function errorResponse(
  c: Context,
  status: 400 | 404 | 409 | 413 | 422 | 500 | 503 | number,
  code: string,
  message: string,
  issues?: Issue[],
) {
  return c.json({ error: { code, message, ...(issues?.length ? { issues } : {}) } }, status as 400);
}

/** Validates a JSON request body; read it in the handler with `c.req.valid("json")`. */
export function jsonBody<S extends v.GenericSchema>(schema: S) {
  return validator("json", async (_value, c) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(type)) {
      throw new ValidationError([{ path: "", message: "Content-Type must be application/json" }]);
    }
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      throw new ValidationError([{ path: "", message: "Body is not valid JSON" }]);
    }
    return parseOrThrow(schema, body) as v.InferOutput<S>;
  });
}

/** Validates the path parameters; read them with `c.req.valid("param")`. */
export function pathParams<S extends v.GenericSchema>(schema: S) {
  return validator("param", (value) => parseOrThrow(schema, value) as v.InferOutput<S>);
}

/** Validates the query string; read it with `c.req.valid("query")`. */
export function queryParams<S extends v.GenericSchema>(schema: S) {
  return validator("query", (value) => parseOrThrow(schema, value) as v.InferOutput<S>);
}
