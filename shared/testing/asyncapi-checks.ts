import { schemas } from "@asyncapi/specs";
import Ajv from "ajv";
import addFormats from "ajv-formats";

let validate: ReturnType<Ajv["compile"]> | undefined;

/** The problems the official AsyncAPI 3.0.0 JSON Schema finds in `document`; empty when valid. */
export function asyncApiProblems(document: unknown): string[] {
  if (!validate) {
    // The AsyncAPI schema bundles its own copy of the draft-07 meta-schema: leave Ajv's out.
    const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    addFormats.default(ajv);
    validate = ajv.compile(schemas["3.0.0"] as object);
  }
  if (validate(document)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`);
}

/** Why `value` does not match the draft-07 `schema` (as AsyncAPI 3.0 uses), or undefined. */
export function draft07Problem(schema: object, value: unknown): string | undefined {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const check = ajv.compile(schema);
  return check(value) ? undefined : ajv.errorsText(check.errors);
}
