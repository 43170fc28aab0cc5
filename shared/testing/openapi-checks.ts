import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { Hono } from "hono";

type Operation = {
  parameters?: { name: string; in: "path" | "query"; schema: object; example?: string }[];
  requestBody?: { content: { "application/json": { schema: object; example?: unknown } } };
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
};
type Document = { paths: Record<string, Record<string, Operation>>; components?: object };

/** The problems the OpenAPI schema finds in `document`; empty when it is valid. */
export async function openApiProblems(document: unknown): Promise<string[]> {
  const validator = new Validator();
  const result = await validator.validate(document as Parameters<Validator["validate"]>[0]);
  return result.valid ? [] : (result.errors as object[]).map((error) => JSON.stringify(error));
}

/** The value at `path` inside a parsed JSON document (undefined where the path ends early). */
export function dig(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Every `METHOD /path` the document lists, paths in OpenAPI form (`/products/{id}`). */
export function documentedRoutes(document: unknown): string[] {
  const { paths } = document as Document;
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** Every `METHOD /path` the app serves (middleware left out), in OpenAPI form. */
export function servedRoutes(app: Hono): string[] {
  const routes = app.routes
    .filter((route) => route.method !== "ALL")
    .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`);
  return [...new Set(routes)];
}

export type ExampleRequest = {
  route: string;
  url: string;
  init: RequestInit;
  /** Status codes the document lists for this operation. */
  statuses: string[];
  /** The JSON schema of each documented response body, by status. */
  responseSchemas: Record<string, object>;
};

/**
 * One request per operation, built from the document's examples alone: path parameters and
 * query parameters from their `example`, the JSON body from the request body's `example`.
 * Throws when a required part has no example: every operation must be callable from the docs.
 */
export function exampleRequests(document: unknown): ExampleRequest[] {
  const { paths } = document as Document;
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => {
      const route = `${method.toUpperCase()} ${path}`;
      let url = path;
      const query = new URLSearchParams();
      for (const parameter of operation.parameters ?? []) {
        if (parameter.example === undefined) {
          if (parameter.in === "path")
            throw new Error(`${route}: no example for ${parameter.name}`);
          continue;
        }
        if (parameter.in === "path") url = url.replace(`{${parameter.name}}`, parameter.example);
        else query.set(parameter.name, parameter.example);
      }
      if (query.size > 0) url += `?${query}`;
      const content = operation.requestBody?.content["application/json"];
      if (content && content.example === undefined) throw new Error(`${route}: no body example`);
      const init: RequestInit = content
        ? {
            method: method.toUpperCase(),
            headers: { "content-type": "application/json" },
            body: JSON.stringify(content.example),
          }
        : { method: method.toUpperCase() };
      const responseSchemas: Record<string, object> = {};
      for (const [status, response] of Object.entries(operation.responses)) {
        const schema = response.content?.["application/json"]?.schema;
        if (schema) responseSchemas[status] = schema;
      }
      return { route, url, init, statuses: Object.keys(operation.responses), responseSchemas };
    }),
  );
}

/**
 * The examples that do not match the document's own schemas (each parameter example against
 * its parameter's schema, each body example against the body schema); empty when all match.
 */
export function examplesNotMatchingSchemas(document: unknown): string[] {
  const { paths } = document as Document;
  const problems: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(item)) {
      for (const parameter of operation.parameters ?? []) {
        if (parameter.example === undefined) continue;
        const error = schemaProblem(document, parameter.schema, parameter.example);
        if (error) problems.push(`${method} ${path} ${parameter.name}: ${error}`);
      }
      const content = operation.requestBody?.content["application/json"];
      if (content?.example !== undefined) {
        const error = schemaProblem(document, content.schema, content.example);
        if (error) problems.push(`${method} ${path} body: ${error}`);
      }
    }
  }
  return problems;
}

const validators = new WeakMap<object, InstanceType<typeof Ajv2020>>();

/** Why `value` does not match `schema` (refs resolved in `document`), or undefined. */
export function schemaProblem(document: unknown, schema: object, value: unknown) {
  let ajv = validators.get(document as object);
  if (!ajv) {
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ components: (document as Document).components ?? {} }, "doc");
    validators.set(document as object, ajv);
  }
  const validate = ajv.compile(rebase(schema));
  return validate(value) ? undefined : ajv.errorsText(validate.errors);
}

/** Points `#/components/...` references at the document registered as `doc`. */
function rebase(schema: object): object {
  return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"doc#/'));
}
