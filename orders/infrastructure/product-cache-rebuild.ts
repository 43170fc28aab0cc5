import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { parseIntegrationEvent } from "contracts";
import { errorMessage, type Logger, type Queryable, type Sql } from "shared";
import type { ProductCacheWriter } from "../application/product-cache-writer.ts";
import type { Product } from "../domain/product.ts";
import { handlerFor, type IntegrationEventHandlers } from "../integration/handler.ts";
import { readStream } from "./stream-reader.ts";

export type RebuildProgress = {
  phase: "replay" | "catch-up";
  /** Stream sequences covered so far, of `total`. */
  done: number;
  total: number;
};

export type RebuildResult = {
  stream: string;
  /** The first and last stream sequence the rebuild covered. */
  firstSeq: number;
  lastSeq: number;
  /** True when the stream still holds every message since sequence 1 (nothing aged out). */
  complete: boolean;
  messagesRead: number;
  /** Messages handed to a handler; the rest were skipped. */
  eventsHandled: number;
  skipped: { unreadable: number; unhandled: number; failed: number };
  /** Products in the rebuilt cache. */
  products: number;
  /** Cache rows written by the swap: missing ones added, differing ones replaced. */
  added: number;
  replaced: number;
  /** Cache rows at a higher version than the stream gave: live updates, left as they are. */
  newerKept: number;
  /** Cache rows of products the stream does not know: deleted when the stream is complete. */
  removed: number;
  /** … and kept when it is not (their events may have aged out). */
  keptNotInStream: number;
};

export type RebuildOptions = {
  sql: Sql;
  js: JetStreamClient;
  /** The stream's name (with its namespace). */
  stream: string;
  handlers: IntegrationEventHandlers;
  log: Logger;
  onProgress?: (progress: RebuildProgress) => void;
  /** Messages replayed per write to the rebuild table. */
  batchSize?: number;
  /** How long the swap waits for product_cache's lock before it gives up (and retries). */
  lockTimeoutMs?: number;
  /** For tests: run while the swap holds the lock, after its catch-up, before the merge. */
  whileLocked?: () => Promise<void>;
  /** For tests: run after the replay, before the swap. */
  beforeSwap?: () => Promise<void>;
};

/** The rebuild holds this advisory lock for its whole run: one at a time. */
const REBUILD_LOCK = "orders:rebuild-cache";
const SWAP_ATTEMPTS = 3;

/** A second rebuild while one runs; exit without touching anything. */
export class RebuildRunningError extends Error {
  override readonly name = "RebuildRunningError";
}

/**
 * Rebuilds `orders.product_cache` from the stream while Orders keeps serving and applying.
 *
 * 1. Replay: every message from the stream's first one, through the same handlers as
 *    ProcessInboxJob, into `orders.product_cache_rebuild` (the version guard keeps the newest
 *    state of each product). Orders reads and writes `product_cache` as usual meanwhile.
 * 2. Swap, in one transaction: lock `product_cache` against writers (readers go on), replay
 *    what reached the stream since step 1 (so the rebuild has seen every event the live cache
 *    can have applied), then merge: add missing rows, replace rows that differ at the same or a
 *    lower version, never touch a row at a higher version (a live update the stream does not
 *    hold), and delete rows of unknown products only when the stream is complete. Live updates
 *    that waited on the lock apply after the commit, through the same version guard.
 */
export async function rebuildProductCache(options: RebuildOptions): Promise<RebuildResult> {
  const { sql, js, stream, handlers, log } = options;
  const batchSize = options.batchSize ?? 500;
  const lock = await sql.reserve();
  try {
    const [held] = await lock<{ locked: boolean }[]>`
      select pg_try_advisory_lock(hashtext(${REBUILD_LOCK})) as locked`;
    if (!held?.locked) throw new RebuildRunningError("another cache rebuild is running");
    try {
      await sql`delete from orders.product_cache_rebuild`;
      const info = await (await js.streams.get(stream)).info();
      const firstSeq = info.state.messages === 0 ? info.state.last_seq + 1 : info.state.first_seq;
      const replay = createReplay({ js, stream, handlers, log, batchSize, startSeq: firstSeq });
      const total = Math.max(0, info.state.last_seq - firstSeq + 1);
      await replay.from(sql, firstSeq, (lastSeq) =>
        options.onProgress?.({ phase: "replay", done: lastSeq - firstSeq + 1, total }),
      );
      options.onProgress?.({ phase: "replay", done: total, total });
      await options.beforeSwap?.();
      // Catch up without the lock first, so the locked catch-up has little left to read.
      await replay.from(sql, replay.nextSeq, () => {});

      let swapped: Omit<RebuildResult, keyof ReturnType<typeof replay.counts>> | undefined;
      for (let attempt = 1; !swapped; attempt++) {
        try {
          swapped = await swap(sql, replay, firstSeq, options);
        } catch (error) {
          if ((error as { code?: string }).code !== "55P03" || attempt >= SWAP_ATTEMPTS)
            throw error;
          log.warn({ attempt, err: errorMessage(error) }, "product_cache is busy; trying again");
        }
      }
      await sql`delete from orders.product_cache_rebuild`;
      return { ...swapped, ...replay.counts() };
    } finally {
      await lock`select pg_advisory_unlock(hashtext(${REBUILD_LOCK}))`;
    }
  } finally {
    lock.release();
  }
}

async function swap(
  sql: Sql,
  replay: ReturnType<typeof createReplay>,
  firstSeq: number,
  options: RebuildOptions,
) {
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  return sql.begin(async (tx) => {
    await tx`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`;
    // EXCLUSIVE: blocks every writer of product_cache until commit, lets readers through.
    await tx`lock table orders.product_cache in exclusive mode`;
    // Every event the live cache can have applied is on the stream by now: read the rest.
    await replay.from(tx, replay.nextSeq, () => {});
    const info = await (await options.js.streams.get(options.stream)).info();
    const complete = info.state.first_seq <= 1 && (info.state.num_deleted ?? 0) === 0;
    await options.whileLocked?.();

    const [diff] = await tx<
      { products: number; added: number; replaced: number; newerKept: number }[]
    >`
      select count(*) as products,
             count(*) filter (where c.product_id is null) as added,
             count(*) filter (where c.version <= r.version and (c.sku, c.name, c.price_amount,
               c.price_currency, c.version) is distinct from (r.sku, r.name, r.price_amount,
               r.price_currency, r.version)) as replaced,
             count(*) filter (where c.version > r.version) as newer_kept
      from orders.product_cache_rebuild r
      left join orders.product_cache c on c.product_id = r.product_id`;
    await tx`
      insert into orders.product_cache
        (product_id, sku, name, price_amount, price_currency, version, updated_at)
      select product_id, sku, name, price_amount, price_currency, version, clock_timestamp()
      from orders.product_cache_rebuild
      on conflict (product_id) do update
        set sku = excluded.sku, name = excluded.name, price_amount = excluded.price_amount,
            price_currency = excluded.price_currency, version = excluded.version,
            updated_at = excluded.updated_at
        where orders.product_cache.version <= excluded.version
          and (orders.product_cache.sku, orders.product_cache.name,
               orders.product_cache.price_amount, orders.product_cache.price_currency,
               orders.product_cache.version)
              is distinct from (excluded.sku, excluded.name, excluded.price_amount,
                                excluded.price_currency, excluded.version)`;
    const unknown = sql`
      from orders.product_cache c
      where not exists (
        select 1 from orders.product_cache_rebuild r where r.product_id = c.product_id)`;
    let removed = 0;
    let keptNotInStream = 0;
    if (complete) removed = (await tx`delete ${unknown}`).count;
    else
      [{ count: keptNotInStream = 0 } = { count: 0 }] = await tx<{ count: number }[]>`
      select count(*) ${unknown}`;
    return {
      stream: options.stream,
      firstSeq,
      lastSeq: replay.nextSeq - 1,
      complete,
      products: diff?.products ?? 0,
      added: diff?.added ?? 0,
      replaced: diff?.replaced ?? 0,
      newerKept: diff?.newerKept ?? 0,
      removed,
      keptNotInStream,
    };
  });
}

/** Reads stream ranges through the handlers into `orders.product_cache_rebuild`. */
function createReplay({
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
  const productCache: ProductCacheWriter = {
    async upsert(product) {
      const current = pending.get(product.id);
      if (current && current.version >= product.version) return false;
      pending.set(product.id, product);
      return true;
    },
  };

  async function handle(message: JsMsg) {
    counts.messagesRead++;
    nextSeq = message.seq + 1;
    const parsed = parseIntegrationEvent(message.data);
    if (!parsed.success) {
      counts[parsed.envelope ? "unhandled" : "unreadable"]++;
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
    async from(sql: Queryable, fromSeq: number, progress: (lastSeq: number) => void) {
      let inBatch = 0;
      await readStream(js, stream, {
        fromSeq,
        batchSize,
        onMessage: async (message) => {
          await handle(message);
          if (++inBatch >= batchSize) {
            await flush(sql);
            inBatch = 0;
            progress(message.seq);
          }
          return true;
        },
      });
      await flush(sql);
    },
  };
}
