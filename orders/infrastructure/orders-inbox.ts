import { IntegrationEvent, parseIntegrationEvent, SALES_STREAM, SALES_SUBJECTS } from "contracts";
import type {
  Inbox,
  InboxHandlerFor,
  InboxPublisher,
  IntegrationEventConsumerOptions,
  ProcessInboxJobOptions,
} from "shared/inbox";
import { handlerFor, type IntegrationEventHandlers } from "../integration/handler.ts";
import { createProductCacheWriter } from "./product-cache.ts";

/** Orders' inbox: `orders.inbox_messages`, holding Sales' integration events. */
export const ORDERS_INBOX: Inbox = {
  schema: "orders",
  parse: parseIntegrationEvent,
  /** Out-of-process writers (e.g. `bun run inbox:replay`) `NOTIFY` here to wake the job. */
  channel: "orders_inbox",
};

/** The durable consumer's name: `nats consumer info SALES orders`. */
export const CONSUMER_NAME = "orders";

/** Who sends Orders its events, and how to have them sent again. */
export const SALES_PUBLISHER: InboxPublisher = {
  name: "Sales",
  republishScript: "outbox:republish",
};

/** What Orders' consumer reads, and how its log lines name the two sides. */
export const ORDERS_CONSUMER = {
  inbox: ORDERS_INBOX,
  stream: SALES_STREAM,
  subjects: SALES_SUBJECTS,
  consumerName: CONSUMER_NAME,
  reader: "Orders",
  publisher: SALES_PUBLISHER,
} satisfies Partial<IntegrationEventConsumerOptions>;

/** Orders' metric names (`orders_inbox_pending`, ...) and help texts. */
export const ORDERS_INBOX_METRICS = {
  inbox: ORDERS_INBOX,
  prefix: "orders",
  reader: "Orders",
  publisher: SALES_PUBLISHER,
};

/** What ProcessInboxJob applies for Orders: Sales' events, through `handlers`. */
export function ordersInboxJob(
  handlers: IntegrationEventHandlers,
): Pick<ProcessInboxJobOptions<IntegrationEvent>, "inbox" | "eventSchema" | "handlerFor"> {
  return {
    inbox: ORDERS_INBOX,
    eventSchema: IntegrationEvent,
    handlerFor: inboxHandlerFor(handlers),
  };
}

/** The job's way to Orders' handlers: each writes the cache in the message's transaction. */
function inboxHandlerFor(handlers: IntegrationEventHandlers): InboxHandlerFor<IntegrationEvent> {
  return (event) => {
    const handle = handlerFor(handlers, event);
    return (
      handle && (({ sql, log }) => handle({ productCache: createProductCacheWriter(sql), log }))
    );
  };
}
