import {
  type IntegrationEvent,
  parseIntegrationEvent,
  SALES_STREAM,
  SALES_SUBJECTS,
} from "contracts";
import type { InboxHandlerFor, InboxSpec } from "shared/inbox";
import { handlerFor, type IntegrationEventHandlers } from "../integration/handler.ts";
import { createProductCacheWriter } from "./product-cache.ts";

/**
 * Orders' inbox: `orders.inbox_messages`, holding Sales' integration events, read from stream
 * `SALES` by the durable consumer `orders`.
 */
export const ORDERS_INBOX: InboxSpec = {
  schema: "orders",
  /** Out-of-process writers (e.g. `bun run inbox:replay`) `NOTIFY` here to wake the job. */
  channel: "orders_inbox",
  parse: parseIntegrationEvent,
  stream: SALES_STREAM,
  subjects: SALES_SUBJECTS,
  /** `nats consumer info SALES orders`. */
  consumerName: "orders",
  reader: "Orders",
  publisher: { name: "Sales", republishScript: "outbox:republish" },
  /** `orders_inbox_pending`, `orders_stream_removed_unread_total`, … */
  metricPrefix: "orders",
};

/**
 * ProcessInboxJob's way to Orders' handlers (`handlerFor`, with `eventSchema: IntegrationEvent`):
 * each writes the cache in the message's transaction.
 */
export function inboxHandlerFor(
  handlers: IntegrationEventHandlers,
): InboxHandlerFor<IntegrationEvent> {
  return (event) => {
    const handle = handlerFor(handlers, event);
    return (
      handle && (({ sql, log }) => handle({ productCache: createProductCacheWriter(sql), log }))
    );
  };
}
