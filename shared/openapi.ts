import { type ConversionConfig, toJsonSchema } from "@valibot/to-json-schema";
import type { Hono, MiddlewareHandler } from "hono";
import * as v from "valibot";

/** Where in a request a validator looks: the JSON body, the path parameters, the query, headers. */
export type RequestPart = "json" | "param" | "query" | "header";

const PARAMETER_LOCATION = { param: "path", query: "query", header: "header" } as const;

export type RouteResponse = {
  description: string;
  /** The body's schema; omit for a response without a documented body. */
  schema?: v.GenericSchema;
  /** Defaults to `application/json` when there is a schema. */
  contentType?: string;
};

/** What the OpenAPI document says about a route besides what its validators tell. */
export type RouteDoc = {
  summary: string;
  description?: string;
  tags?: string[];
  responses: Record<number, RouteResponse>;
  /** A request that should go through validation: shown in the docs, checked by the tests. */
  example?: {
    json?: unknown;
    param?: Record<string, string>;
    query?: Record<string, string>;
    header?: Record<string, string>;
  };
};

type JsonSchema = Record<string, unknown>;

export type OpenApiInfo = { title: string; version: string; description?: string };

const REQUEST_SCHEMA = Symbol.for("integration-events.openapi.request");
const ROUTE_DOC = Symbol.for("integration-events.openapi.route");
const COMPOSED_HANDLER = "__COMPOSED_HANDLER";

type Tagged = {
  [REQUEST_SCHEMA]?: { part: RequestPart; schema: v.GenericSchema };
  [ROUTE_DOC]?: RouteDoc;
  [COMPOSED_HANDLER]?: Tagged;
};

/** Marks a validator middleware with the schema it applies, for `openApiDocument`. */
export function withRequestSchema<M extends object>(
  middleware: M,
  part: RequestPart,
  schema: v.GenericSchema,
): M {
  return Object.assign(middleware, { [REQUEST_SCHEMA]: { part, schema } });
}

/** A pass-through middleware that carries the route's documentation. */
export function describeRoute(doc: RouteDoc): MiddlewareHandler {
  const middleware: MiddlewareHandler = (_c, next) => next();
  return Object.assign(middleware, { [ROUTE_DOC]: doc });
}

/** The JSON body of every error response (see `createHttpApp`). */
export const ErrorResponse = v.object({
  error: v.object({
    code: v.string(),
    message: v.string(),
    issues: v.optional(v.array(v.object({ path: v.string(), message: v.string() }))),
  }),
});

/**
 * A valibot schema as a JSON Schema without `$schema`: 2020-12 by default (OpenAPI 3.1),
 * draft-07 for AsyncAPI 3.0. What JSON Schema cannot say (transforms, custom checks) is left out.
 */
export function jsonSchemaOf(
  schema: v.GenericSchema,
  typeMode: "input" | "output" = "input",
  target: NonNullable<ConversionConfig["target"]> = "draft-2020-12",
): JsonSchema {
  const converted = toJsonSchema(schema, { target, typeMode, errorMode: "ignore" });
  const { $schema: _, ...rest } = converted as JsonSchema;
  return rest;
}

/**
 * The OpenAPI 3.1 document of `app`, read from its routes: every method and path the app
 * serves, with the parameters and body schemas of the very validators that check requests
 * (`jsonBody`, `pathParams`, `queryParams`) and the responses of its `describeRoute`.
 */
export function openApiDocument(app: Hono, info: OpenApiInfo) {
  const operations = new Map<string, { method: string; path: string; tags: Tagged[] }>();
  for (const route of app.routes) {
    if (route.method === "ALL") continue;
    const key = `${route.method} ${route.path}`;
    const entry = operations.get(key) ?? { method: route.method, path: route.path, tags: [] };
    const handler = route.handler as unknown as Tagged;
    entry.tags.push(handler, ...(handler[COMPOSED_HANDLER] ? [handler[COMPOSED_HANDLER]] : []));
    operations.set(key, entry);
  }

  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, path, tags } of operations.values()) {
    const doc = tags.find((tag) => tag[ROUTE_DOC])?.[ROUTE_DOC];
    const schemas = tags.flatMap((tag) => (tag[REQUEST_SCHEMA] ? [tag[REQUEST_SCHEMA]] : []));
    const openApiPath = path.replace(/:(\w+)/g, "{$1}");
    paths[openApiPath] ??= {};
    (paths[openApiPath] as Record<string, unknown>)[method.toLowerCase()] = operation(
      method,
      path,
      doc,
      schemas,
    );
  }

  return {
    openapi: "3.1.0",
    info,
    paths,
    components: { schemas: { ErrorResponse: jsonSchemaOf(ErrorResponse, "output") } },
  };
}

export type OpenApiDocument = ReturnType<typeof openApiDocument>;

/** Tags of the routes every process serves itself (probes, documents), apart from its API. */
const ANSWERED_BY_EVERY_PROCESS = new Set(["operations", "documentation"]);

function operation(
  method: string,
  path: string,
  doc: RouteDoc | undefined,
  schemas: { part: RequestPart; schema: v.GenericSchema }[],
) {
  const parameters: Record<string, unknown>[] = [];
  const documented = new Set<string>();
  for (const { part, schema } of schemas) {
    if (part === "json") continue;
    const json = jsonSchemaOf(schema);
    const required = new Set((json.required as string[] | undefined) ?? []);
    const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
    for (const [name, property] of Object.entries(properties)) {
      documented.add(`${part}:${name}`);
      const example = doc?.example?.[part]?.[name];
      parameters.push({
        name,
        in: PARAMETER_LOCATION[part],
        required: part === "param" || required.has(name),
        schema: property,
        ...(example === undefined ? {} : { example }),
      });
    }
  }
  for (const [, name] of path.matchAll(/:(\w+)/g)) {
    if (documented.has(`param:${name}`)) continue;
    const example = doc?.example?.param?.[name as string];
    parameters.push({
      name,
      in: "path",
      required: true,
      schema: { type: "string" },
      ...(example === undefined ? {} : { example }),
    });
  }

  const body = schemas.find((s) => s.part === "json");
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(doc?.responses ?? {})) {
    responses[status] = responseObject(response);
  }
  if (schemas.length > 0 && !responses["400"]) {
    responses["400"] = responseObject({
      description: "The request is malformed: each problem with its path",
      schema: ErrorResponse,
    });
  }
  if (body && !responses["413"]) {
    responses["413"] = responseObject({
      description: "The body is larger than the process takes (`payload_too_large`)",
      schema: ErrorResponse,
    });
  }
  // A module's own routes use the database, and every request has a time limit.
  if (!doc?.tags?.some((tag) => ANSWERED_BY_EVERY_PROCESS.has(tag)) && !responses["503"]) {
    responses["503"] = responseObject({
      description:
        "Postgres is unavailable, or the request ran out of time (`unavailable`: nothing was written); a write whose connection was lost while committing answers `outcome_unknown`",
      schema: ErrorResponse,
    });
  }
  if (Object.keys(responses).length === 0) responses.default = { description: "Undocumented" };

  return {
    operationId: `${method.toLowerCase()}${path
      .split("/")
      .filter(Boolean)
      .map((segment) => segment.replace(/^:/, "by-"))
      .map((segment) =>
        segment
          .split(/[^a-zA-Z0-9]+/)
          .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
          .join(""),
      )
      .join("")}`,
    summary: doc?.summary ?? `${method} ${path}`,
    ...(doc?.description ? { description: doc.description } : {}),
    ...(doc?.tags ? { tags: doc.tags } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body
      ? {
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: jsonSchemaOf(body.schema),
                ...(doc?.example?.json === undefined ? {} : { example: doc.example.json }),
              },
            },
          },
        }
      : {}),
    responses,
  };
}

function responseObject(response: RouteResponse) {
  if (!response.schema) {
    return response.contentType
      ? { description: response.description, content: { [response.contentType]: {} } }
      : { description: response.description };
  }
  const schema =
    response.schema === ErrorResponse
      ? { $ref: "#/components/schemas/ErrorResponse" }
      : jsonSchemaOf(response.schema, "output");
  return {
    description: response.description,
    content: { [response.contentType ?? "application/json"]: { schema } },
  };
}
