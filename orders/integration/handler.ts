import type { IntegrationEvent } from "contracts";
import type { Logger } from "shared";
import type { ProductCacheWriter } from "../application/product-cache-writer.ts";

/** What a handler may touch; everything in it belongs to the message's transaction. */
export type HandlerContext = { productCache: ProductCacheWriter; log: Logger };

export type IntegrationEventHandler<E extends IntegrationEvent = IntegrationEvent> = (
  event: E,
  context: HandlerContext,
) => Promise<void>;

/** Handlers by event type. A type without a handler is stored and marked ignored. */
export type IntegrationEventHandlers = {
  [T in IntegrationEvent["type"]]?: IntegrationEventHandler<Extract<IntegrationEvent, { type: T }>>;
};

/** The handler for `event`, bound to it; undefined when Orders does not handle its type. */
export function handlerFor(
  handlers: IntegrationEventHandlers,
  event: IntegrationEvent,
): ((context: HandlerContext) => Promise<void>) | undefined {
  const handler = handlers[event.type] as IntegrationEventHandler | undefined;
  return handler && ((context) => handler(event, context));
}
