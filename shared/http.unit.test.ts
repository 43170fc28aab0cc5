import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import postgres from "postgres";
import * as v from "valibot";
import { createHttpApp, jsonBody, type RequestDeadline } from "./http.ts";
import { createMetricsRegistry } from "./metrics.ts";
import { metricValue } from "./testing/prometheus-text.ts";
import { captureLogger } from "./testing/silent-logger.ts";

function appWithThings() {
  const metrics = createMetricsRegistry();
  const { log, lines } = captureLogger();
  const app = createHttpApp({ log, readiness: {}, metrics });
  app.route(
    "/things",
    new Hono().get("/:id", (c) => c.json({ id: c.req.param("id"), trace: c.get("traceparent") })),
  );
  return { app, lines };
}

/** `/slow` runs until its time limit (50 ms) aborts it; `/fast` answers at once. */
function appWithSlowThings({ committing }: { committing: boolean }) {
  const { log, lines } = captureLogger();
  const app = createHttpApp({ log, readiness: {}, requestTimeoutMs: 50 });
  const deadlines: RequestDeadline[] = [];
  app.get("/slow", async (c) => {
    const deadline = c.get("deadline");
    deadlines.push(deadline);
    deadline.committing = committing;
    await new Promise((resolve) => deadline.signal.addEventListener("abort", resolve));
    return c.json({ late: true });
  });
  app.get("/fast", (c) => {
    deadlines.push(c.get("deadline"));
    return c.json({ fast: true });
  });
  return { app, lines, deadlines };
}

describe("createHttpApp", () => {
  test("counts and times requests by route pattern and status; unknown paths as unmatched", async () => {
    const { app } = appWithThings();
    await app.request("/things/1");
    await app.request("/things/2");
    await app.request("/nowhere/at/all");
    const text = await (await app.request("/metrics")).text();
    const thing = { method: "GET", route: "/things/:id", status: "200" };
    expect(metricValue(text, "http_requests_total", thing)).toBe(2);
    expect(metricValue(text, "http_request_duration_seconds_count", thing)).toBe(2);
    expect(metricValue(text, "http_requests_total", { route: "unmatched", status: "404" })).toBe(1);
  });

  test("a request works under the caller's traceparent, and its log line carries the trace id", async () => {
    const { app, lines } = appWithThings();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const response = await app.request("/things/1", { headers: { traceparent } });
    expect(await response.json()).toEqual({ id: "1", trace: traceparent });
    expect(lines.find((line) => line.msg === "request")).toMatchObject({
      route: "/things/:id",
      status: 200,
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    });
  });

  test("a request without one gets a new trace, logged with it", async () => {
    const { app, lines } = appWithThings();
    const { trace } = (await (await app.request("/things/1")).json()) as { trace: string };
    expect(trace).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(lines.find((line) => line.msg === "request")?.traceId).toBe(trace.split("-")[1]);
  });

  test("a request past the time limit is answered 503, and its deadline's signal is aborted", async () => {
    const { app, lines, deadlines } = appWithSlowThings({ committing: false });
    const response = await app.request("/slow");
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: {
        code: "unavailable",
        message: "The request took longer than 50 ms; try again shortly",
      },
    });
    expect(deadlines[0]?.signal.aborted).toBe(true);
    expect(lines.find((line) => line.msg === "request")).toMatchObject({ status: 503 });
  });

  test("a body trickled in without Content-Length is answered 503 at the time limit too", async () => {
    const { app } = appWithSlowThings({ committing: false });
    app.post("/things", jsonBody(v.object({ name: v.string() })), (c) => c.json({ late: true }));
    // A first chunk, and the rest never comes.
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(new TextEncoder().encode('{"name":')),
    });
    const response = await app.request("/things", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: "unavailable" } });
    await body.cancel().catch(() => {});
  });

  test("a statement that gave up waiting for a lock is a 503 to retry, logged as a warning", async () => {
    const { log, lines } = captureLogger();
    const app = createHttpApp({ log, readiness: {} });
    app.get("/locked", () => {
      throw Object.assign(new postgres.PostgresError("canceling statement due to lock timeout"), {
        code: "55P03",
      });
    });
    const response = await app.request("/locked");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      error: { code: "unavailable", message: expect.stringContaining("try again") },
    });
    expect(lines.find((line) => line.msg === "gave up waiting for a lock")).toMatchObject({
      level: "warn",
    });
  });

  test("a request past the time limit while committing says its outcome is unknown", async () => {
    const { app } = appWithSlowThings({ committing: true });
    const response = await app.request("/slow");
    expect(response.status).toBe(503);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("outcome_unknown");
    expect(error.message).toContain("whether it took effect is unknown");
  });

  test("a connection lost while committing says the outcome is unknown; before, to try again", async () => {
    // A new app for each: the first failure trips the circuit breaker of its app.
    const codeWhenLost = async ({ committing }: { committing: boolean }) => {
      const app = createHttpApp({ log: captureLogger().log, readiness: {} });
      app.get("/save", (c) => {
        c.get("deadline").committing = committing;
        throw Object.assign(new Error("write CONNECTION_CLOSED 127.0.0.1:5432"), {
          code: "CONNECTION_CLOSED",
        });
      });
      const response = await app.request("/save");
      expect(response.status).toBe(503);
      return ((await response.json()) as { error: { code: string } }).error.code;
    };
    expect(await codeWhenLost({ committing: true })).toBe("outcome_unknown");
    expect(await codeWhenLost({ committing: false })).toBe("unavailable");
  });

  test("a request within the time limit keeps its deadline's signal unaborted", async () => {
    const { app, deadlines } = appWithSlowThings({ committing: false });
    expect((await app.request("/fast")).status).toBe(200);
    expect(deadlines[0]?.signal.aborted).toBe(false);
  });

  test("while the circuit breaker is open, probes and documents still answer; the API does not", async () => {
    const app = createHttpApp({
      log: captureLogger().log,
      readiness: {},
      api: { title: "Things", version: "1" },
      pathsWithoutDatabase: ["/asyncapi.json"],
    });
    app.get("/save", () => {
      throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    });
    app.get("/asyncapi.json", (c) => c.json({ asyncapi: "3.0.0" }));
    expect((await app.request("/save")).status).toBe(503); // opens the breaker
    expect((await app.request("/save")).status).toBe(503);
    for (const path of ["/health", "/openapi.json", "/docs", "/docs/assets/swagger-ui.css"]) {
      expect({ path, status: (await app.request(path)).status }).toEqual({ path, status: 200 });
    }
    expect((await app.request("/asyncapi.json")).status).toBe(200);
  });

  test("/health/messaging says unhealthy, in its own shape, when the backlog cannot be read", async () => {
    const app = createHttpApp({
      log: captureLogger().log,
      readiness: {},
      messagingHealth: () =>
        Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })),
    });
    const response = await app.request("/health/messaging");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: "unhealthy" });
  });

  test("a body that is not JSON is a 400 listing the problem, like any invalid request", async () => {
    const app = createHttpApp({ log: captureLogger().log, readiness: {} });
    app.post("/things", jsonBody(v.object({ name: v.string() })), (c) =>
      c.json(c.req.valid("json")),
    );
    for (const body of ["{not json", ""]) {
      const response = await app.request("/things", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: {
          code: "validation_failed",
          message: "Body is not valid JSON",
          issues: [{ path: "", message: "Body is not valid JSON" }],
        },
      });
    }
  });

  test("a docs asset name that is a property of every object is a 404, not a 500", async () => {
    const app = createHttpApp({
      log: captureLogger().log,
      readiness: {},
      api: { title: "Things", version: "1" },
    });
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      expect((await app.request(`/docs/assets/${name}`)).status).toBe(404);
    }
  });

  test("without a metrics registry there is no /metrics", async () => {
    const app = createHttpApp({ log: captureLogger().log, readiness: {} });
    expect((await app.request("/metrics")).status).toBe(404);
  });
});
