import {
  IntegrationEvent,
  PRODUCT_CREATED_V1,
  PRODUCT_UPDATED_V1,
  SALES_SOURCE,
  SALES_STREAM,
  SALES_SUBJECTS,
} from "contracts";
import { Hono } from "hono";
import { describeRoute, jsonSchemaOf } from "shared";
import { DUPLICATE_WINDOW_MS } from "shared/outbox";
import * as v from "valibot";

/** What each event means, for people reading the document. */
const DESCRIPTIONS: Record<string, string> = {
  [PRODUCT_CREATED_V1]: "A product was created in Sales; `data` is its full state at version 1.",
  [PRODUCT_UPDATED_V1]:
    "A product changed in Sales; `data` is its full state after the change, with the new version. " +
    "It may arrive before the `created` event: keep the highest version.",
};

/** The headers the relay sets on every message. */
const MessageHeaders = v.object({
  "Nats-Msg-Id": v.pipe(
    v.string(),
    v.uuid(),
    v.description(
      `The event id. JetStream drops a message whose id it saw within ${DUPLICATE_WINDOW_MS / 60_000} minutes; consumers dedupe on it beyond that.`,
    ),
  ),
  "Content-Type": v.pipe(
    v.literal("application/cloudevents+json"),
    v.description("Structured mode"),
  ),
  traceparent: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
      v.description("W3C trace context of the request that caused the event"),
    ),
  ),
});

const EXAMPLE_PRODUCT = {
  productId: "0193a5c2-7a0f-7b4e-9d11-2f6c1d3e5b77",
  sku: "MUG-1",
  name: "Mug",
  description: "Stoneware, 350 ml",
  price: { amount: 1299, currency: "EUR" },
};

/** `sales.product.created.v1` → `SalesProductCreatedV1`. */
const pascal = (type: string) =>
  type
    .split(/[^a-zA-Z0-9]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("");

const EXAMPLE_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/**
 * The AsyncAPI 3.0 document of what Sales publishes: one channel per event type (the NATS
 * subject), a `send` operation each, and the message with its CloudEvents payload schema and
 * headers, all generated from the contracts' valibot schemas. Every event of
 * `IntegrationEvent` is in it. A new event type appears without touching this file, with a
 * generic description until `DESCRIPTIONS` has one, and a product as its example's `data`.
 */
export function asyncApiDocument() {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const event of IntegrationEvent.options) {
    const type = event.entries.type.literal;
    const name = pascal(type);
    const channel = name.charAt(0).toLowerCase() + name.slice(1);
    const description = DESCRIPTIONS[type] ?? `The ${type} event.`;
    const version = type === PRODUCT_CREATED_V1 ? 1 : 2;
    const example = {
      specversion: "1.0",
      id: "0193a5c2-7a10-7cc1-8a5e-4b0c2f9e1a01",
      source: SALES_SOURCE,
      type,
      subject: EXAMPLE_PRODUCT.productId,
      time: "2026-11-27T10:00:00.000Z",
      datacontenttype: "application/json",
      traceparent: EXAMPLE_TRACEPARENT,
      data: { ...EXAMPLE_PRODUCT, version },
    };
    messages[name] = {
      name,
      title: type,
      summary: description,
      contentType: "application/cloudevents+json",
      headers: jsonSchemaOf(MessageHeaders, "output", "draft-07"),
      payload: jsonSchemaOf(event, "input", "draft-07"),
      examples: [
        {
          name: "example",
          headers: {
            "Nats-Msg-Id": example.id,
            "Content-Type": "application/cloudevents+json",
            traceparent: EXAMPLE_TRACEPARENT,
          },
          payload: example,
        },
      ],
    };
    channels[channel] = {
      address: type,
      title: type,
      description: `${description} Stream ${SALES_STREAM} captures ${SALES_SUBJECTS}; in a namespaced environment the subject is prefixed (\`<namespace>.${type}\`).`,
      messages: { [name]: { $ref: `#/components/messages/${name}` } },
    };
    operations[`send${name}`] = {
      action: "send",
      title: `Sales publishes ${type}`,
      channel: { $ref: `#/channels/${channel}` },
      messages: [{ $ref: `#/channels/${channel}/messages/${name}` }],
    };
  }
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Sales integration events",
      version: "1.0.0",
      description:
        "Events Sales publishes to NATS JetStream (stream SALES, subjects sales.>) through its " +
        "transactional outbox: at least once, each with its event id as Nats-Msg-Id. Payloads " +
        "are CloudEvents 1.0 in structured JSON mode carrying the product's full state and " +
        "version (event-carried state transfer). Consumers ignore fields they do not know; a " +
        "breaking change gets a new .vN type.",
    },
    defaultContentType: "application/cloudevents+json",
    servers: {
      nats: {
        host: "localhost:4222",
        protocol: "nats",
        description: "NATS with JetStream (the stream SALES must exist; Sales creates it).",
      },
    },
    channels,
    operations,
    components: { messages },
  };
}

export type AsyncApiDocument = ReturnType<typeof asyncApiDocument>;

/** `GET /asyncapi.json`: the document, served by the publisher. */
export function createAsyncApiRoute() {
  return new Hono().get(
    "/",
    describeRoute({
      summary: "The AsyncAPI 3.0 document of the events Sales publishes",
      tags: ["documentation"],
      responses: { 200: { description: "AsyncAPI 3.0", contentType: "application/json" } },
    }),
    (c) => c.json(asyncApiDocument()),
  );
}
