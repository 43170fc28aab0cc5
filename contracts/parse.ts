import * as v from "valibot";
import { CloudEventEnvelope } from "./envelope.ts";
import { ProductCreatedIntegrationEvent } from "./product-created.ts";
import { ProductUpdatedIntegrationEvent } from "./product-updated.ts";

/** Every event Sales publishes, told apart by `type`. */
export const IntegrationEvent = v.variant("type", [
  ProductCreatedIntegrationEvent,
  ProductUpdatedIntegrationEvent,
]);
export type IntegrationEvent = v.InferOutput<typeof IntegrationEvent>;

/** One problem found in a message: where (a dot path, "" for the whole message) and what. */
export type EventIssue = { path: string; message: string };

export type ParseIntegrationEventResult =
  | { success: true; event: IntegrationEvent }
  | {
      success: false;
      issues: EventIssue[];
      /** Present when the envelope itself is valid, e.g. for a `type` this version does not know. */
      envelope?: CloudEventEnvelope;
    };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a message body as an integration event. Never throws: anything that is not a valid
 * event comes back as a list of issues. Unknown extra fields are ignored (tolerant reader).
 */
export function parseIntegrationEvent(body: Uint8Array | string): ParseIntegrationEventResult {
  let json: unknown;
  try {
    json = JSON.parse(typeof body === "string" ? body : utf8.decode(body));
  } catch (error) {
    return {
      success: false,
      issues: [{ path: "", message: `not valid JSON: ${describe(error)}` }],
    };
  }
  const event = v.safeParse(IntegrationEvent, json);
  if (event.success) return { success: true, event: event.output };

  const envelope = v.safeParse(CloudEventEnvelope, json);
  return envelope.success
    ? { success: false, issues: toEventIssues(event.issues), envelope: envelope.output }
    : { success: false, issues: toEventIssues(event.issues) };
}

function toEventIssues(issues: readonly v.BaseIssue<unknown>[]): EventIssue[] {
  return issues.map((issue) => ({ path: v.getDotPath(issue) ?? "", message: issue.message }));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
