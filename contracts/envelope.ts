import * as v from "valibot";

/**
 * The CloudEvents 1.0 envelope (structured JSON mode) shared by every event.
 * `data` is left open here; each event narrows it.
 */
export const CloudEventEnvelope = v.object({
  specversion: v.literal("1.0"),
  id: v.pipe(v.string(), v.uuid()),
  source: v.pipe(v.string(), v.minLength(1)),
  type: v.pipe(v.string(), v.minLength(1)),
  subject: v.pipe(v.string(), v.minLength(1)),
  time: v.pipe(v.string(), v.isoTimestamp()),
  datacontenttype: v.optional(v.literal("application/json")),
  // In the event as well as in the NATS headers, so a consumer carries on the trace from the
  // event alone.
  traceparent: v.optional(
    v.pipe(
      v.string(),
      v.description(
        "W3C trace context (`00-<trace id>-<span id>-<flags>`) of the request that raised the event (CloudEvents distributed tracing extension)",
      ),
    ),
  ),
  data: v.unknown(),
});
export type CloudEventEnvelope = v.InferOutput<typeof CloudEventEnvelope>;

/** The `source` attribute of every event Sales publishes. */
export const SALES_SOURCE = "sales";
