import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import { validator } from "hono/validator";
import * as v from "valibot";
import { isDatabaseUnavailable, isLockTimeout } from "./database.ts";
import { DOCS_ASSETS, docsAsset, docsPage } from "./docs-page.ts";
import {
  errorMessage,
  type Issue,
  OutcomeUnknownError,
  UnavailableError,
  ValidationError,
} from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { MessagingHealth } from "./messaging-health.ts";
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from "./metrics.ts";
import {
  describeRoute,
  ErrorResponse,
  type OpenApiInfo,
  openApiDocument,
  withRequestSchema,
} from "./openapi.ts";
import { continueTrace, traceIdOf } from "./trace.ts";
import { parseOrThrow } from "./validation.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The W3C `traceparent` of this request's span: the caller's trace, or a new one. */
    traceparent: string;
    /** This request's time limit, for work that must not take effect after a 503. */
    deadline: RequestDeadline;
  }
}

/** What a 503 `outcome_unknown` tells the client to do. */
const OUTCOME_UNKNOWN_ADVICE =
  "whether it took effect is unknown: send it again with the same Idempotency-Key where the endpoint takes one, or check (e.g. GET what it changed) before retrying";

/**
 * A request's time limit as the work it starts sees it. When the limit passes, the request is
 * answered 503 and `signal` is aborted with that error: work not yet committed must roll back.
 */
export type RequestDeadline = {
  readonly signal: AbortSignal;
  /**
   * Set by the work right before it sends its COMMIT: a time-out from then on cannot tell
   * whether the work took effect, so its 503 tells the client to check before retrying.
   */
  committing: boolean;
};

/**
 * The last step inside a transaction a request started: throws (so the transaction rolls back)
 * when the request was already answered 503 for its time limit, and otherwise records that the
 * COMMIT goes out now. No timer can run between this and the driver queueing the COMMIT.
 */
export function commitInTime(deadline: RequestDeadline | undefined): void {
  deadline?.signal.throwIfAborted();
  if (deadline) deadline.committing = true;
}

/** A readiness check: resolves true when the dependency answers. */
export type ReadinessChecks = Record<string, () => Promise<boolean> | boolean>;

export type HttpAppOptions = {
  log: Logger;
  readiness: ReadinessChecks;
  maxBodyBytes?: number;
  /** A request still running after this is answered 503 (a client never hangs); see `deadline`. */
  requestTimeoutMs?: number;
  /** Serves `GET /metrics` and records every request in it. */
  metrics?: MetricsRegistry;
  /** Serves `GET /health/messaging`: 200 while healthy or degraded, 503 when unhealthy. */
  messagingHealth?: () => Promise<MessagingHealth>;
  /** Serves `GET /openapi.json` (read from the app's routes) and the docs page `GET /docs`. */
  api?: OpenApiInfo;
  /** The module's own paths that never use the database (e.g. a document): always answered. */
  pathsWithoutDatabase?: string[];
};

const STATUS_BY_ERROR_NAME: Record<string, 400 | 404 | 409 | 422 | 503> = {
  ValidationError: 400,
  NotFoundError: 404,
  ConflictError: 409,
  UnprocessableError: 422,
  UnavailableError: 503,
  OutcomeUnknownError: 503,
};

const Status = v.object({ status: v.string() });

/** Endpoints that must answer whatever the database does, and those that never use it. */
const PROBES = ["/health", "/ready", "/health/messaging", "/metrics"];
const DOCUMENTS = ["/openapi.json", "/docs"];
const DATABASE_RETRY_AFTER_MS = 1_000;
/** How long a request may run before it is answered 503 (`requestTimeoutMs`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/**
 * A Hono app with what every process serves the same way: JSON errors (named errors mapped to
 * 400/404/409/422/503, anything else a 500 without details), a JSON 404, a body size limit
 * (413), a time limit (503, so a request never hangs; its work sees it as `deadline`), a
 * circuit breaker while Postgres is unreachable, a trace per request (the caller's
 * `traceparent`, or a new one), one log line per request with its trace id, `GET /health` and
 * `GET /ready`; with the options, `/metrics`, `/health/messaging`, `/openapi.json` and `/docs`.
 */
export function createHttpApp({
  log,
  readiness,
  maxBodyBytes = 1024 * 1024,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  metrics,
  messagingHealth,
  api,
  pathsWithoutDatabase = [],
}: HttpAppOptions): Hono {
  const app = new Hono();
  const alwaysAnswered = new Set([...PROBES, ...DOCUMENTS, ...pathsWithoutDatabase]);
  const isAlwaysAnswered = (path: string) =>
    alwaysAnswered.has(path) || path.startsWith("/docs/assets/");
  const requests = metrics?.counter("http_requests_total", "HTTP requests by route and status.");
  const durations = metrics?.histogram(
    "http_request_duration_seconds",
    "HTTP request durations by route and status, in seconds.",
  );

  app.use(async (c, next) => {
    const started = performance.now();
    const traceparent = continueTrace(c.req.header("traceparent"));
    c.set("traceparent", traceparent);
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = matchedRoute(c);
    const status = c.res.status;
    if (requests && durations) {
      const labels = { method: c.req.method, route, status: String(status) };
      requests.inc(labels);
      durations.observe(seconds, labels);
    }
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        route,
        status,
        ms: Math.round(seconds * 10_000) / 10,
        traceId: traceIdOf(traceparent),
      },
      "request",
    );
  });
  // Before the body limit, which reads a body sent without Content-Length whole before it
  // goes on: a client trickling one must not hold its request past the time limit.
  app.use(timeLimit(requestTimeoutMs));
  app.use(
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        errorResponse(c, 413, "payload_too_large", `Body exceeds ${maxBodyBytes} bytes`),
    }),
  );

  // A circuit breaker: right after a request found Postgres unreachable, answer 503 at once
  // for a moment instead of queueing more requests behind connection attempts.
  let databaseDownUntil = 0;
  app.use(async (c, next) => {
    if (Date.now() < databaseDownUntil && !isAlwaysAnswered(c.req.path)) {
      throw new UnavailableError("The database is unavailable; try again shortly");
    }
    await next();
  });

  app.get(
    "/health",
    describeRoute({
      summary: "The process is up",
      tags: ["operations"],
      responses: { 200: { description: "Up", schema: Status } },
    }),
    (c) => c.json({ status: "ok" }),
  );
  app.get(
    "/ready",
    describeRoute({
      summary: "Postgres and NATS answer",
      tags: ["operations"],
      responses: {
        200: { description: "Ready", schema: Readiness },
        503: { description: "Not ready: names what is down", schema: Readiness },
      },
    }),
    async (c) => {
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
    },
  );
  if (messagingHealth) {
    app.get(
      "/health/messaging",
      describeRoute({
        summary: "Whether messages flow: oldest pending age and dead count against thresholds",
        tags: ["operations"],
        responses: {
          200: { description: "Healthy or degraded (see `status`)", schema: Status },
          503: { description: "Unhealthy", schema: Status },
        },
      }),
      async (c) => {
        const health = await messagingHealth().catch((error: unknown) => {
          log.warn({ err: errorMessage(error) }, "cannot read the messaging backlog");
          // Messages cannot flow without the database either: the answer monitoring expects.
          return { status: "unhealthy" as const, reason: "cannot read the backlog" };
        });
        return c.json(health, health.status === "unhealthy" ? 503 : 200);
      },
    );
  }
  if (metrics) {
    app.get(
      "/metrics",
      describeRoute({
        summary: "Metrics in the Prometheus text format",
        tags: ["operations"],
        responses: { 200: { description: "The metrics", contentType: METRICS_CONTENT_TYPE } },
      }),
      async (c) => c.body(await metrics.render(), 200, { "content-type": METRICS_CONTENT_TYPE }),
    );
  }
  if (api) {
    let document: ReturnType<typeof openApiDocument> | undefined;
    app.get(
      "/openapi.json",
      describeRoute({
        summary: "This OpenAPI document",
        tags: ["documentation"],
        responses: { 200: { description: "OpenAPI 3.1", contentType: "application/json" } },
      }),
      // Read from the routes on first use: the module's routes are added after this app is made.
      (c) => {
        document ??= openApiDocument(app, api);
        return c.json(document);
      },
    );
    app.get(
      "/docs",
      describeRoute({
        summary: "Interactive API documentation (Swagger UI)",
        tags: ["documentation"],
        responses: { 200: { description: "The page", contentType: "text/html" } },
      }),
      (c) => c.html(docsPage(api.title)),
    );
    app.get(
      "/docs/assets/:file",
      describeRoute({
        summary: "A static file of the docs page",
        tags: ["documentation"],
        responses: {
          200: { description: "The file" },
          404: { description: "No such file", schema: ErrorResponse },
        },
        example: { param: { file: DOCS_ASSETS[0] as string } },
      }),
      (c) =>
        docsAsset(c.req.param("file")) ?? errorResponse(c, 404, "not_found", "No such docs asset"),
    );
  }

  app.notFound((c) =>
    errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${c.req.path}`),
  );
  app.onError((error, c) => {
    const status = STATUS_BY_ERROR_NAME[error.name];
    if (status) {
      const { code, issues } = error as Error & { code: string; issues?: Issue[] };
      return errorResponse(c, status, code, error.message, issues);
    }
    // The one HTTPException a request can raise here: `jsonBody`'s parse of a body not JSON.
    if (error instanceof HTTPException && error.status === 400) {
      return errorResponse(c, 400, "validation_failed", "Body is not valid JSON", [
        { path: "", message: "Body is not valid JSON" },
      ]);
    }
    if (error instanceof HTTPException) {
      return errorResponse(c, error.status, "http_error", error.message);
    }
    if (isDatabaseUnavailable(error)) {
      databaseDownUntil = Date.now() + DATABASE_RETRY_AFTER_MS;
      log.warn({ err: errorMessage(error), path: c.req.path }, "database unavailable");
      // Lost while committing: Postgres may have committed before the connection went.
      if (c.get("deadline")?.committing) {
        return errorResponse(
          c,
          503,
          "outcome_unknown",
          `The database connection was lost while saving; ${OUTCOME_UNKNOWN_ADVICE}`,
        );
      }
      return errorResponse(c, 503, "unavailable", "The database is unavailable; try again shortly");
    }
    if (isLockTimeout(error)) {
      log.warn({ err: errorMessage(error), path: c.req.path }, "gave up waiting for a lock");
      return errorResponse(
        c,
        503,
        "unavailable",
        "What this request changes is locked; try again shortly",
      );
    }
    log.error({ err: error, path: c.req.path }, "unhandled error");
    return errorResponse(c, 500, "internal_error", "Internal server error");
  });
  return app;
}

/**
 * Answers 503 once a request has run `ms`, and aborts its `deadline` signal with that 503. The
 * handler keeps running; it is up to its work to look at the signal.
 */
function timeLimit(ms: number): MiddlewareHandler {
  return async (c, next) => {
    const controller = new AbortController();
    const deadline: RequestDeadline = { signal: controller.signal, committing: false };
    c.set("deadline", deadline);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = deadline.committing
          ? new OutcomeUnknownError(
              `The request took longer than ${ms} ms while saving; ${OUTCOME_UNKNOWN_ADVICE}`,
            )
          : new UnavailableError(`The request took longer than ${ms} ms; try again shortly`);
        controller.abort(error);
        reject(error);
      }, ms);
    });
    try {
      await Promise.race([next(), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
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

const Readiness = v.object({ status: v.string(), checks: v.record(v.string(), v.string()) });

/** The path of the route that answered (e.g. `/products/:id`), or `unmatched` for a 404. */
function matchedRoute(c: Context): string {
  const routes = matchedRoutes(c).filter((route) => route.method !== "ALL");
  return routes.at(-1)?.path ?? "unmatched";
}

/** Validates a JSON request body; read it in the handler with `c.req.valid("json")`. */
export function jsonBody<S extends v.GenericSchema>(schema: S) {
  // Hono parses a JSON body itself (a malformed one is answered in `onError`) and hands any
  // other body over as `{}`, hence the type check.
  const middleware = validator("json", (body, c) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(type)) {
      throw new ValidationError([{ path: "", message: "Content-Type must be application/json" }]);
    }
    return parseOrThrow(schema, body) as v.InferOutput<S>;
  });
  return withRequestSchema(middleware, "json", schema);
}

/** Validates the path parameters; read them with `c.req.valid("param")`. */
export function pathParams<S extends v.GenericSchema>(schema: S) {
  const middleware = validator("param", (value) => parseOrThrow(schema, value) as v.InferOutput<S>);
  return withRequestSchema(middleware, "param", schema);
}

/**
 * Validates request headers; read them with `c.req.valid("header")`. Hono hands the validator
 * every header with its name in lower case, so the schema's keys are lower case too.
 */
export function requestHeaders<S extends v.GenericSchema>(schema: S) {
  const middleware = validator(
    "header",
    (value) => parseOrThrow(schema, value) as v.InferOutput<S>,
  );
  return withRequestSchema(middleware, "header", schema);
}

/** Validates the query string; read it with `c.req.valid("query")`. */
export function queryParams<S extends v.GenericSchema>(schema: S) {
  const middleware = validator("query", (value) => parseOrThrow(schema, value) as v.InferOutput<S>);
  return withRequestSchema(middleware, "query", schema);
}
