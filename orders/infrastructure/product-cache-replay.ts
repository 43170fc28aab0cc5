import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { parseIntegrationEvent } from "contracts";
import { errorMessage, type Logger, type Queryable } from "shared";
import { isRefusedValue, readStream } from "shared/inbox";
import type { ProductCacheWriter } from "../application/product-cache-writer.ts";
import type { Product } from "../domain/product.ts";
import { handlerFor, type IntegrationEventHandlers } from "../integration/handler.ts";

/**
 * Reads stream ranges through the handlers (the same ones ProcessInboxJob calls) into
 * `orders.product_cache_rebuild`, a batch at a time, under the cache's version guard.
 */
export function createProductCacheReplay({
  js,
  stream,
  handlers,
  log,
  batchSize,
  startSeq,
}: {
  js: JetStreamClient;
  stream: string;
  handlers: IntegrationEventHandlers;
  log: Logger;
  batchSize: number;
  startSeq: number;
}) {
  let nextSeq = startSeq;
  const counts = { messagesRead: 0, eventsHandled: 0, unreadable: 0, unhandled: 0, failed: 0 };
  let pending = new Map<string, Product>();
  // The version guard in memory: within a batch only the newest state of a product is kept.
  // Keyed as Postgres compares uuids, whatever case an event wrote the id in.
  const productCache: ProductCacheWriter = {
    upsert(product) {
      const key = product.id.toLowerCase();
      const current = pending.get(key);
      if (!current || current.version < product.version) pending.set(key, product);
    },
  };

  /** `refused`: Postgres cannot store the message as JSON (a NUL, a nesting too deep). */
  async function handle(message: JsMsg, refused: boolean) {
    counts.messagesRead++;
    nextSeq = message.seq + 1;
    const parsed = parseIntegrationEvent(message.data);
    // What the live inbox parks is unreadable here too: not an event of a type Orders handles,
    // or one Postgres refuses as JSON.
    if (!parsed.success) {
      const handled = parsed.envelope && Object.hasOwn(handlers, parsed.envelope.type);
      counts[parsed.envelope && !handled ? "unhandled" : "unreadable"]++;
      return;
    }
    if (refused) {
      counts.unreadable++;
      return;
    }
    const handle = handlerFor(handlers, parsed.event);
    if (!handle) {
      counts.unhandled++;
      return;
    }
    try {
      await handle({ productCache, log: log.child({ eventId: parsed.event.id }) });
      counts.eventsHandled++;
    } catch (error) {
      counts.failed++;
      log.warn(
        { eventId: parsed.event.id, sequence: message.seq, err: errorMessage(error) },
        "handler failed during the rebuild; event skipped",
      );
    }
  }

  async function flush(sql: Queryable) {
    if (pending.size === 0) return;
    const rows = [...pending.values()];
    pending = new Map();
    // A new column's array goes in the unnest too; one of booleans in `sql.array(…)`, as the
    // relay's are: postgres.js sends a bare one as a boolean ("cannot cast … to boolean[]").
    await sql`
      insert into orders.product_cache_rebuild
        (product_id, sku, name, price_amount, price_currency, version, updated_at)
      select p.id, p.sku, p.name, p.amount, p.currency, p.version, clock_timestamp()
      from unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.sku)}::text[],
                  ${rows.map((r) => r.name)}::text[], ${rows.map((r) => r.price.amount)}::bigint[],
                  ${rows.map((r) => r.price.currency)}::text[], ${rows.map((r) => r.version)}::int[])
        as p(id, sku, name, amount, currency, version)
      on conflict (product_id) do update
        set sku = excluded.sku, name = excluded.name, price_amount = excluded.price_amount,
            price_currency = excluded.price_currency, version = excluded.version,
            updated_at = excluded.updated_at
        where orders.product_cache_rebuild.version < excluded.version`;
  }

  return {
    get nextSeq() {
      return nextSeq;
    },
    counts: () => ({
      messagesRead: counts.messagesRead,
      eventsHandled: counts.eventsHandled,
      skipped: {
        unreadable: counts.unreadable,
        unhandled: counts.unhandled,
        failed: counts.failed,
      },
    }),
    /** Replays from `fromSeq` to the stream's current end; `progress` gets the last sequence. */
    async from(
      sql: Queryable,
      fromSeq: number,
      progress: (lastSeq: number) => void,
      signal?: AbortSignal,
    ) {
      let batch: JsMsg[] = [];
      const apply = async () => {
        const refused = await refusedAsJson(
          sql,
          batch.map((message) => message.data),
        );
        for (const [index, message] of batch.entries()) await handle(message, refused.has(index));
        batch = [];
        await flush(sql);
      };
      await readStream(js, stream, {
        fromSeq,
        batchSize,
        signal,
        onMessage: async (message) => {
          batch.push(message);
          if (batch.length >= batchSize) {
            await apply();
            progress(message.seq);
          }
          return true;
        },
      });
      await apply();
    },
  };
}

export type ProductCacheReplay = ReturnType<typeof createProductCacheReplay>;

const utf8 = new TextDecoder();

/**
 * The positions of the bodies Postgres refuses as `jsonb`, as the live inbox's insert does (it
 * parks them): one statement for the batch, then one per body only when that one fails.
 */
async function refusedAsJson(sql: Queryable, bodies: Uint8Array[]): Promise<Set<number>> {
  const texts = bodies.map((body) => utf8.decode(body));
  const castAll = (some: string[]) =>
    sql`select count(x::jsonb) from unnest(${some}::text[]) as t(x)`;
  try {
    await castAll(texts);
    return new Set();
  } catch (error) {
    if (!isRefusedValue(error)) throw error;
  }
  const refused = new Set<number>();
  for (const [index, text] of texts.entries()) {
    try {
      await castAll([text]);
    } catch (error) {
      if (!isRefusedValue(error)) throw error;
      refused.add(index);
    }
  }
  return refused;
}
