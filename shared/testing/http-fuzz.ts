import { expect } from "bun:test";
import fc from "fast-check";
import type { Hono } from "hono";
import { servedRoutes } from "./openapi-checks.ts";

/**
 * The same cases every run, so `bun test` stays deterministic; set FUZZ_SEED to explore others
 * (a failure prints the seed and the smallest failing request).
 */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261127);

/** Strings that break naive code: empty, NUL, lone surrogates, huge, injection-shaped. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "😀".repeat(300),
    "\u202e\ud83d",
    "' or 1=1 --",
    "../../etc/passwd",
    "null",
  ),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 100 }),
);

/** Values that break naive code: odd numbers, odd strings, wrong types, deep nesting. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(0, -1, -0, 1.5, 1e21, -1e308, Number.MAX_SAFE_INTEGER + 2, null, true, [], {}),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((n) => Number(n)),
  fc.jsonValue({ maxDepth: 3 }),
);

/** An object with the keys an endpoint expects (some missing, some extra), each value hostile. */
export function shapedLike(
  keys: Record<string, fc.Arbitrary<unknown>>,
): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.fromEntries(
    Object.entries(keys).map(([key, valid]) => [key, fc.oneof(valid, hostileValue)]),
  ) as Record<string, fc.Arbitrary<unknown>>;
  return fc
    .record(entries, { requiredKeys: [] })
    .chain((body) =>
      fc
        .dictionary(fc.string({ maxLength: 10 }), hostileValue, { maxKeys: 2 })
        .map((extra) => ({ ...extra, ...body })),
    );
}

/**
 * A valid value with exactly one leaf (at any depth) replaced by a hostile value: finds the
 * field a validator forgot, which whole-random bodies rarely reach.
 */
export function withOneFieldBroken<T extends Record<string, unknown>>(
  valid: fc.Arbitrary<T>,
): fc.Arbitrary<unknown> {
  return valid.chain((value) => {
    const paths = leafPaths(value);
    return fc
      .tuple(fc.constantFrom(...paths), hostileValue)
      .map(([path, hostile]) => replaceAt(value, path, hostile));
  });
}

function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value);
  return entries.length === 0
    ? [prefix]
    : entries.flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}

function replaceAt(value: unknown, path: string[], replacement: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return replacement;
  const object = value as Record<string, unknown>;
  return { ...object, [head]: replaceAt(object[head], rest, replacement) };
}

/** A request body: JSON of any shape, shaped JSON, or bytes that are not JSON at all. */
export function anyBody(
  shaped: fc.Arbitrary<unknown>,
): fc.Arbitrary<{ body: string | Uint8Array; type: string }> {
  const json = fc.oneof(shaped, fc.jsonValue()).map((value) => JSON.stringify(value) ?? "null");
  return fc.oneof(
    { weight: 4, arbitrary: json.map((body) => ({ body, type: "application/json" })) },
    {
      weight: 1,
      arbitrary: json.map((body) => ({
        body: body.slice(0, Math.max(0, body.length - 3)),
        type: "application/json",
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .string({ unit: "grapheme" })
        .map((body) => ({ body, type: "application/json" })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 200 })
        .map((body) => ({ body, type: "application/json" })),
    },
    { weight: 1, arbitrary: json.map((body) => ({ body, type: "text/plain" })) },
  );
}

/** A path segment where an id goes: a real id, a random UUID, or junk. */
export function idSegment(known: () => string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(null).map(() => known()[0] ?? crypto.randomUUID()),
    fc.uuid(),
    fc.string({ unit: "grapheme", maxLength: 80 }).map((s) => encodeURIComponent(s) || "x"),
    fc.constantFrom("0", "-1", "%00", "..%2F..%2F", "a".repeat(2_000)),
  );
}

export type FuzzCase = { method: string; path: string; body?: string | Uint8Array; type?: string };

/**
 * Sends `runs` generated requests to `app` in-process; each must get one of `allowed` statuses,
 * a JSON body, and never a stack trace. Returns how many of each status came back.
 */
export async function fuzzEndpoint(
  app: Hono,
  requests: fc.Arbitrary<FuzzCase>,
  allowed: number[],
  runs = 150,
): Promise<Record<number, number>> {
  const seen: Record<number, number> = {};
  await fc.assert(
    fc.asyncProperty(requests, async ({ method, path, body, type }) => {
      const response = await app.request(path, {
        method,
        ...(body === undefined
          ? {}
          : { body, headers: { "content-type": type ?? "application/json" } }),
      });
      const text = await response.text();
      seen[response.status] = (seen[response.status] ?? 0) + 1;
      expect(allowed).toContain(response.status);
      expect(text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
      expect(() => JSON.parse(text)).not.toThrow();
    }),
    { numRuns: runs, seed: FUZZ_SEED },
  );
  return seen;
}

/** A body just over `bytes`, as JSON, to check the size limit. */
export function oversizedJson(bytes = 1024 * 1024): string {
  return JSON.stringify({ name: "x".repeat(bytes + 1) });
}

/** A query string from hostile values (objects as JSON: `String()` throws on some of them). */
export function queryString(query: Record<string, unknown>): string {
  const text = (value: unknown) =>
    typeof value === "string" ? value : (JSON.stringify(value) ?? "undefined");
  return new URLSearchParams(
    Object.entries(query).map(([key, value]): [string, string] => [key, text(value)]),
  ).toString();
}

/** Routes that take nothing from the caller: fixed answers, and the API's documents. */
const ROUTES_WITHOUT_INPUT = [
  "GET /health",
  "GET /ready",
  "GET /health/messaging",
  "GET /metrics",
  "GET /openapi.json",
  "GET /asyncapi.json",
  "GET /docs",
  "GET /docs/assets/{file}", // its own file names only (`docsAsset`)
];

/** The app's routes that take a caller's input (`POST /products/{id}`), sorted: each is fuzzed. */
export function routesTakingInput(app: Hono): string[] {
  return servedRoutes(app)
    .filter((route) => !ROUTES_WITHOUT_INPUT.includes(route))
    .toSorted();
}
