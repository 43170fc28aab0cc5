import type { JetStreamClient, StreamInfo } from "@nats-io/jetstream";
import { errorMessage, isLockTimeout, type Logger, type Sql } from "shared";
import type { IntegrationEventHandlers } from "../integration/handler.ts";
import { createProductCacheReplay, type ProductCacheReplay } from "./product-cache-replay.ts";

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
  /**
   * True when the stream holds messages and every one since sequence 1 (nothing aged out or
   * deleted). It may still not be the whole history: a stream recreated after NATS lost its
   * store starts again at sequence 1.
   */
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
  /** Cache rows of products the stream does not mention: deleted with `prune` when complete. */
  removed: number;
  /** … and kept otherwise. */
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
  /**
   * Delete the cache rows of products the stream does not mention, when the stream is complete.
   * Off by default: the stream cannot show that it holds the whole history.
   */
  prune?: boolean;
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
const UNLOCK_WAIT_MS = 1_000;

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
 *    hold). Rows of products the stream does not mention are kept, unless `prune` asks to delete
 *    them and the stream is complete. Live updates that waited on the lock apply after the
 *    commit, through the same version guard.
 */
export async function rebuildProductCache(options: RebuildOptions): Promise<RebuildResult> {
  const { sql, js, stream, handlers, log } = options;
  const batchSize = options.batchSize ?? 500;
  const lock = await sql.reserve();
  try {
    const [held] = await lock<{ locked: boolean; pid: number; serverStarted: string }[]>`
      select pg_try_advisory_lock(hashtext(${REBUILD_LOCK})) as locked, pg_backend_pid() as pid,
             pg_postmaster_start_time()::text as server_started`;
    if (!held?.locked) throw new RebuildRunningError("another cache rebuild is running");
    // The session, not only its pid: a Postgres restarted meanwhile hands pids out again.
    const lockHolder = { pid: held.pid, serverStarted: held.serverStarted };
    try {
      await sql`delete from orders.product_cache_rebuild`;
      const info = await (await js.streams.get(stream)).info();
      const streamCreated = info.created;
      const firstSeq = info.state.messages === 0 ? info.state.last_seq + 1 : info.state.first_seq;
      const replay = createProductCacheReplay({
        js,
        stream,
        handlers,
        log,
        batchSize,
        startSeq: firstSeq,
      });
      const total = Math.max(0, info.state.last_seq - firstSeq + 1);
      await replay.from(sql, firstSeq, (lastSeq) =>
        options.onProgress?.({ phase: "replay", done: lastSeq - firstSeq + 1, total }),
      );
      options.onProgress?.({ phase: "replay", done: total, total });
      await options.beforeSwap?.();
      // Catch up without the lock first, so the locked catch-up has little left to read.
      await replay.from(sql, replay.nextSeq, () => {});

      let swapped: Omit<RebuildResult, keyof ReturnType<ProductCacheReplay["counts"]>> | undefined;
      for (let attempt = 1; !swapped; attempt++) {
        try {
          swapped = await swap(sql, replay, { firstSeq, lockHolder, streamCreated }, options);
        } catch (error) {
          if (!isLockTimeout(error) || attempt >= SWAP_ATTEMPTS) throw error;
          log.warn({ attempt, err: errorMessage(error) }, "product_cache is busy; trying again");
        }
      }
      await sql`delete from orders.product_cache_rebuild`;
      return { ...swapped, ...replay.counts() };
    } finally {
      // If the session died, Postgres released the lock with it, and postgres.js 3.4.9 may never
      // answer a query on that connection: wait a moment at most, and keep the error that matters.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        lock`select pg_advisory_unlock(hashtext(${REBUILD_LOCK}))`.catch(() => {}),
        new Promise((resolve) => (timer = setTimeout(resolve, UNLOCK_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
  } finally {
    lock.release();
  }
}

async function swap(
  sql: Sql,
  replay: ProductCacheReplay,
  {
    firstSeq,
    lockHolder,
    streamCreated,
  }: {
    firstSeq: number;
    lockHolder: { pid: number; serverStarted: string };
    streamCreated: string;
  },
  options: RebuildOptions,
) {
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  return sql.begin(async (tx) => {
    await tx`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`;
    // The lock goes with the transaction if this script stops answering (suspended, or cut off
    // from Postgres without a reset), rather than hold ProcessInboxJob up until TCP gives up.
    // Above the time the stream may take to read, while the transaction waits on this script.
    await tx`
      select set_config('idle_in_transaction_session_timeout', ${`${2 * lockTimeoutMs}ms`}, true)`;
    // EXCLUSIVE: blocks every writer of product_cache until commit, lets readers through.
    await tx`lock table orders.product_cache in exclusive mode`;
    // Every event the live cache can have applied is on the stream by now: read the rest.
    // Into the scratch table outside this transaction, so a retried swap need not read it again.
    // Within the lock timeout, and so is the look at the stream after it: if NATS went away
    // meanwhile, give the lock back rather than hold ProcessInboxJob up until it returns.
    const reading = new AbortController();
    const timer = setTimeout(
      () =>
        reading.abort(
          new Error(
            `reading the stream took over ${lockTimeoutMs} ms with product_cache locked; nothing was changed`,
          ),
        ),
      lockTimeoutMs,
    );
    let info: StreamInfo;
    try {
      await replay.from(sql, replay.nextSeq, () => {}, reading.signal);
      info = await untilAborted(
        options.js.streams.get(options.stream).then((stream) => stream.info()),
        reading.signal,
      );
    } finally {
      clearTimeout(timer);
    }
    // A stream made anew while the rebuild ran (NATS lost its store, `stream:rm`) holds other
    // messages under the numbers read: what was replayed is not its history.
    if (info.created !== streamCreated || info.state.last_seq < replay.nextSeq - 1) {
      throw new Error(
        `stream ${options.stream} was made anew while the rebuild read it; nothing was changed: run it again`,
      );
    }
    const complete =
      info.state.messages > 0 && info.state.first_seq <= 1 && (info.state.num_deleted ?? 0) === 0;
    await options.whileLocked?.();
    // The session holding the rebuild's lock must still be there. If it went (Postgres
    // restarted, say), the rebuild table may have lost rows (it is unlogged: a crash empties
    // it) or another rebuild may be writing to it, and a merge (a prune above all) would go
    // by what it does not hold.
    // A rebuild started after that one's end would empty the table first: not until this commits.
    await tx`lock table orders.product_cache_rebuild in share mode`;
    const [own] = await tx<{ held: boolean }[]>`
      select pg_postmaster_start_time()::text = ${lockHolder.serverStarted} and exists (
        select 1 from pg_locks
        where locktype = 'advisory' and granted and pid = ${lockHolder.pid} and objsubid = 1
          and (classid::bigint << 32 | objid::bigint) = hashtext(${REBUILD_LOCK})::bigint
      ) as held`;
    if (!own?.held) {
      throw new Error(
        "the rebuild lost its session to Postgres (a restart?), so its table may be incomplete; nothing was changed: run it again",
      );
    }

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
    const unknown = tx`
      from orders.product_cache c
      where not exists (
        select 1 from orders.product_cache_rebuild r where r.product_id = c.product_id)`;
    let removed = 0;
    let keptNotInStream = 0;
    if (options.prune && complete) {
      removed = (await tx`delete ${unknown}`).count;
    } else {
      const [row] = await tx<{ count: number }[]>`select count(*) ${unknown}`;
      keptNotInStream = row?.count ?? 0;
    }
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

/** `promise`, or `signal`'s reason as soon as it aborts (the promise itself is left to run). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
