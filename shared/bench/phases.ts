import { cpus } from "node:os";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Queryable, Sql } from "../database.ts";
import { connectNats } from "../nats.ts";
import type { Measured } from "./baselines.ts";
import { type CpuGroups, cpuMeter } from "./cpu.ts";
import { fixedRateLoad, fullSpeedLoad, type LoadResult } from "./load.ts";
import { lagCurve, type Percentiles, percentiles, perSecond, round, slope } from "./stats.ts";
import type { BenchSystem } from "./system.ts";

/** The channels Sales' relay and Orders' ProcessInboxJob LISTEN on for out-of-process wake-ups. */
const OUTBOX_CHANNEL = "sales_outbox";
const INBOX_CHANNEL = "orders_inbox";
/** Orders' durable consumer. */
const ORDERS_CONSUMER = "orders";

/** Postgres' clock now, in epoch ms: every time the benchmark compares comes from it. */
export async function databaseNow(sql: Queryable): Promise<number> {
  const [row] = await sql<{ ms: number }[]>`
    select extract(epoch from clock_timestamp())::float8 * 1000 as ms`;
  return row?.ms ?? Number.NaN;
}

/** Polls `check` every `intervalMs` until it is true; fails naming `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs, intervalMs = 20 }: { timeoutMs: number; intervalMs?: number },
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** Generous time for `events` to pass a stage that should manage at least 500 a second. */
const allowanceMs = (events: number) => 60_000 + events * 2;

async function outboxIdle(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ busy: boolean }[]>`
    select exists (select 1 from sales.outbox_messages
                   where published_at is null and parked_at is null) as busy`;
  return row?.busy === false;
}

async function inboxIdle(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ busy: boolean }[]>`
    select exists (select 1 from orders.inbox_messages where status = 'pending') as busy`;
  return row?.busy === false;
}

/**
 * `CHECKPOINT`: writes out what the earlier phases dirtied, so that the checkpoint their WAL sets
 * off (every `max_wal_size` of it) does not land inside the next timed phase as a stall of a
 * few hundred milliseconds. Checkpoints happen in production too; here they would make a phase's
 * figures depend on what the phase before it wrote. False when the role may not checkpoint
 * (that needs superuser or `pg_checkpoint`): the phase then runs all the same.
 */
export async function checkpoint(sql: Sql): Promise<boolean> {
  return sql`checkpoint`.then(
    () => true,
    () => false,
  );
}

/**
 * `VACUUM` of the outbox and the inbox. A backlog phase moves 50 000 rows out of a claim index at
 * once; their old entries stay in it until VACUUM, and every later claim walks past them (about
 * 0.15 ms each here, and a millisecond of the latency p50). Autovacuum removes them within a
 * minute (migrations `0007_outbox_vacuum.sql`, `0009_inbox_vacuum.sql`), not within a run: left
 * in, they would make a phase's figures depend on the backlog the phase before it drained.
 */
export async function vacuumQueues(sql: Sql): Promise<void> {
  await sql`vacuum sales.outbox_messages`;
  await sql`vacuum orders.inbox_messages`;
}

/**
 * Holds every unpublished outbox row back until the relay phase: parked rows are neither
 * claimed nor made due when Sales (re)connects to NATS.
 */
export async function holdOutbox(sql: Sql): Promise<number> {
  const held = await sql`
    update sales.outbox_messages set parked_at = now() where published_at is null`;
  return held.count;
}

/**
 * Relay drain on a pre-built backlog: with Sales up and idle, the held rows are released in
 * one transaction that also `NOTIFY`s the relay (as an out-of-process writer would, e.g. a
 * replay of parked rows); the clock runs from that transaction to no row left unpublished.
 */
export async function measureRelayDrain(system: BenchSystem, backlog: number): Promise<Measured> {
  const { sql } = system;
  const startedAt = await sql.begin(async (tx) => {
    await tx`
      update sales.outbox_messages set parked_at = null, next_attempt_at = now()
      where published_at is null`;
    await tx`select pg_notify(${OUTBOX_CHANNEL}, '')`;
    return databaseNow(tx);
  });
  await waitUntil("the relay to publish the backlog", () => outboxIdle(sql), {
    timeoutMs: allowanceMs(backlog),
  });
  const finishedAt = await databaseNow(sql);
  const [counts] = await sql<{ published: number; parked: number }[]>`
    select count(*) filter (where published_at is not null)::int as published,
           count(*) filter (where parked_at is not null)::int as parked
    from sales.outbox_messages`;
  if (counts?.published !== backlog || counts.parked !== 0) {
    throw new Error(`relay published ${counts?.published} of ${backlog}, parked ${counts?.parked}`);
  }
  return { events: backlog, ms: finishedAt - startedAt };
}

/** Watches Orders' consumer: how many messages it still has to receive or ack. */
async function watchOrdersConsumer(system: BenchSystem) {
  const nc = await connectNats(system.natsUrl, "bench-consumer-watch");
  const jsm = await jetstreamManager(nc);
  return {
    async outstanding(): Promise<number> {
      try {
        const info = await jsm.consumers.info(system.salesStream, ORDERS_CONSUMER);
        return info.num_pending + info.num_ack_pending;
      } catch {
        return Number.POSITIVE_INFINITY; // not created yet
      }
    },
    close: () => nc.close(),
  };
}

/**
 * Inbox intake on a pre-built backlog: the stream holds `backlog` messages when Orders starts.
 * While it stores them, a trigger files each new row as `dead`, so ProcessInboxJob leaves the
 * backlog alone (it becomes the apply phase's backlog) and intake is measured by itself. The
 * clock runs from the first row's `received_at` (the start of the first intake statement)
 * to the moment the consumer has acked everything (acks follow the commits).
 */
export async function measureIntake(system: BenchSystem, backlog: number): Promise<Measured> {
  const { sql } = system;
  await sql.unsafe(`
    create function public.bench_hold_inbox() returns trigger language plpgsql as $$
    begin
      if new.status = 'pending' then new.status := 'dead'; end if;
      return new;
    end $$;
    create trigger bench_hold_inbox before insert on orders.inbox_messages
      for each row execute function public.bench_hold_inbox();`);
  const consumer = await watchOrdersConsumer(system);
  let finishedAt: number;
  try {
    await system.service("orders").start();
    // Asked every 20 ms: more often, the asking takes CPU from the intake it times.
    await waitUntil(
      "Orders to store and ack the backlog",
      async () => (await consumer.outstanding()) === 0,
      { timeoutMs: allowanceMs(backlog) },
    );
    finishedAt = await databaseNow(sql);
  } finally {
    await consumer.close();
  }
  await sql.unsafe(`
    drop trigger bench_hold_inbox on orders.inbox_messages;
    drop function public.bench_hold_inbox();`);
  const [first] = await sql<{ ms: number; held: number; stored: number }[]>`
    select extract(epoch from min(received_at))::float8 * 1000 as ms,
           count(*) filter (where status = 'dead')::int as held, count(*)::int as stored
    from orders.inbox_messages`;
  if (first?.stored !== backlog || first.held !== backlog) {
    throw new Error(`inbox holds ${first?.stored} rows (${first?.held} held), not ${backlog}`);
  }
  return { events: backlog, ms: finishedAt - first.ms };
}

/**
 * Apply on the backlog intake stored: with Orders up and idle, the held rows become pending in
 * one transaction that `NOTIFY`s ProcessInboxJob (as a replay by a command would); the clock
 * runs from there to no row pending. Every product must then be in Orders' cache.
 */
export async function measureApply(system: BenchSystem, backlog: number): Promise<Measured> {
  const { sql } = system;
  const startedAt = await sql.begin(async (tx) => {
    await tx`
      update orders.inbox_messages set status = 'pending', next_attempt_at = now()
      where status = 'dead'`;
    await tx`select pg_notify(${INBOX_CHANNEL}, '')`;
    return databaseNow(tx);
  });
  await waitUntil("ProcessInboxJob to apply the backlog", () => inboxIdle(sql), {
    timeoutMs: allowanceMs(backlog),
  });
  const finishedAt = await databaseNow(sql);
  const [counts] = await sql<{ processed: number; products: number }[]>`
    select (select count(*) from orders.inbox_messages where status = 'processed')::int as processed,
           (select count(*) from orders.product_cache)::int as products`;
  if (counts?.processed !== backlog || counts.products !== backlog) {
    throw new Error(
      `applied ${counts?.processed} events, cached ${counts?.products} of ${backlog}`,
    );
  }
  return { events: backlog, ms: finishedAt - startedAt };
}

type EventTimes = { writtenAt: number; appliedAt: number | null };

/** Write (outbox `occurred_at`) and apply (inbox `processed_at`) times of events since `fromMs`. */
async function eventTimesSince(sql: Sql, fromMs: number): Promise<EventTimes[]> {
  return sql<EventTimes[]>`
    select extract(epoch from o.occurred_at)::float8 * 1000 as written_at,
           extract(epoch from i.processed_at)::float8 * 1000 as applied_at
    from sales.outbox_messages o
    left join orders.inbox_messages i on i.id = o.id
    where o.occurred_at >= to_timestamp(${fromMs / 1000})`;
}

/** Waits until every event Sales has written was applied by Orders; fails if any is missing. */
async function waitForEverythingApplied(sql: Sql, events: number): Promise<void> {
  await waitUntil(
    "Orders to apply every event Sales wrote",
    async () => {
      const [row] = await sql<{ missing: number }[]>`
        select (select count(*) from sales.outbox_messages)
             - (select count(*) from orders.inbox_messages where status = 'processed') as missing`;
      return row?.missing === 0;
    },
    { timeoutMs: allowanceMs(events), intervalMs: 100 },
  );
}

function failOnErrors(phase: string, load: LoadResult) {
  if (load.errors > 0) {
    throw new Error(
      `${phase}: ${load.errors} of ${load.sent} requests failed (${load.firstError})`,
    );
  }
}

export type SustainedResult = {
  /** Events applied to Orders' cache per second, after the warm-up, while writes ran. */
  appliedPerS: number;
  /** Writes Sales committed per second over the same window. */
  writtenPerS: number;
  /** Least-squares slope of the backlog (written − applied) over the window, events/s. */
  lagSlopePerS: number;
  lagMax: number;
  /** From the last write to its apply. */
  drainMs: number;
  latencyMs: Percentiles;
  requests: number;
  /** CPU time per event written, by process group, while the writes ran. */
  cpuUsPerEvent: CpuGroups;
  /** Product creations each of Sales' write transactions carried (group commit), on average. */
  useCasesPerWriteTransaction: number;
  /** How busy the whole machine was meanwhile, and how much of that was other work. */
  machineBusyPct: number;
  otherLoadPct: number;
};

/**
 * Sustained end-to-end throughput: `POST /products` at full speed for `durationMs` while Sales'
 * relay and Orders' consumer and job keep going. Rates come from the database afterwards
 * (nothing polls it during the run): writes by `occurred_at`, applies by `processed_at`.
 */
export async function measureSustained(
  system: BenchSystem,
  { concurrency, durationMs }: { concurrency: number; durationMs: number },
): Promise<SustainedResult> {
  const { sql } = system;
  const salesUrl = system.service("sales").process.url;
  const meter = cpuMeter({
    sql,
    database: system.databaseName,
    natsUrl: system.natsUrl,
    pids: () => ({
      sales: system.service("sales").process.pid ?? 0,
      orders: system.service("orders").process.pid ?? 0,
    }),
  });
  const startedAt = await databaseNow(sql);
  const transactionsBefore = await writeTransactions(salesUrl);
  await meter.start();
  const load = await fullSpeedLoad({
    salesUrl,
    label: `${system.id}-e2e`,
    concurrency,
    durationMs,
  });
  // The window ends with the writes: Orders goes on applying while these are read.
  const [cpu, writesEndedAt] = await Promise.all([meter.stop(), databaseNow(sql)]);
  const transactionsAfter = await writeTransactions(salesUrl);
  failOnErrors("sustained load", load);
  await waitForEverythingApplied(sql, load.created);
  const times = await eventTimesSince(sql, startedAt);

  const warmupMs = Math.min(2_000, durationMs * 0.2);
  const from = startedAt + warmupMs;
  const to = writesEndedAt;
  const inWindow = (at: number | null) => at !== null && at >= from && at <= to;
  const written = times.filter((t) => inWindow(t.writtenAt));
  const curve = lagCurve(times, from, to, 40);
  const lastWrite = times.reduce((last, t) => Math.max(last, t.writtenAt), 0);
  const lastApply = times.reduce((last, t) => Math.max(last, t.appliedAt ?? 0), 0);
  return {
    appliedPerS: perSecond(times.filter((t) => inWindow(t.appliedAt)).length, to - from),
    writtenPerS: perSecond(written.length, to - from),
    lagSlopePerS: round(slope(curve), 1),
    lagMax: curve.reduce((max, point) => Math.max(max, point.y), 0),
    drainMs: round(lastApply - lastWrite, 1),
    latencyMs: percentiles(written.map((t) => (t.appliedAt ?? 0) - t.writtenAt)),
    requests: load.created,
    useCasesPerWriteTransaction: round(
      (transactionsAfter.useCases - transactionsBefore.useCases) /
        Math.max(1, transactionsAfter.count - transactionsBefore.count),
      2,
    ),
    cpuUsPerEvent: mapValues(cpu.seconds, (used) => round((used * 1e6) / load.created, 0)),
    machineBusyPct: round((100 * cpu.machineBusy) / cpu.elapsed / cpus().length, 0),
    otherLoadPct: round(
      (100 * Math.max(0, cpu.machineBusy - sum(Object.values(cpu.seconds)))) /
        cpu.elapsed /
        cpus().length,
      0,
    ),
  };
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** Sales' write transactions so far, and the use cases they carried, from its `/metrics`. */
async function writeTransactions(salesUrl: string): Promise<{ count: number; useCases: number }> {
  const page = await (await fetch(`${salesUrl}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(page)?.[1] ?? 0);
  return {
    count: value("sales_write_transaction_use_cases_count"),
    useCases: value("sales_write_transaction_use_cases_sum"),
  };
}

function mapValues<K extends string>(
  record: Record<K, number>,
  map: (value: number) => number,
): Record<K, number> {
  return Object.fromEntries(
    Object.entries<number>(record).map(([key, value]) => [key, map(value)]),
  ) as Record<K, number>;
}

/** Where an event's latency goes, p50 and p99 of each leg, in ms. */
export type LatencyStages = Record<
  "to_relay" | "relay_to_inbox" | "inbox_to_applied",
  { p50: number; p99: number }
>;

/**
 * Latency at a fixed rate: `POST /products` at `ratePerS` (open loop) for `durationMs`; for
 * each event, Orders' `processed_at` minus Sales' `occurred_at`, both from Postgres' clock.
 * The legs between: to the relay's batch (`published_at` is its transaction's start), on to
 * the inbox (`received_at` is the intake statement's start), and on to the apply.
 */
export async function measureLatency(
  system: BenchSystem,
  { ratePerS, durationMs }: { ratePerS: number; durationMs: number },
): Promise<{ latencyMs: Percentiles; stages: LatencyStages; sentPerS: number }> {
  const { sql } = system;
  const startedAt = await databaseNow(sql);
  const load = await fixedRateLoad({
    salesUrl: system.service("sales").process.url,
    label: `${system.id}-latency`,
    ratePerS,
    durationMs,
  });
  const endedAt = await databaseNow(sql);
  failOnErrors("fixed-rate load", load);
  await waitForEverythingApplied(sql, load.created);
  const times = await eventTimesSince(sql, startedAt);
  type Legs = Record<"toRelay" | "relayToInbox" | "inboxToApplied", [number, number]>;
  const [legs] = await sql<Legs[]>`
    select percentile_cont(array[0.5, 0.99]) within group (order by
             extract(epoch from o.published_at - o.occurred_at) * 1000) as to_relay,
           percentile_cont(array[0.5, 0.99]) within group (order by
             extract(epoch from i.received_at - o.published_at) * 1000) as relay_to_inbox,
           percentile_cont(array[0.5, 0.99]) within group (order by
             extract(epoch from i.processed_at - i.received_at) * 1000) as inbox_to_applied
    from sales.outbox_messages o join orders.inbox_messages i on i.id = o.id
    where o.occurred_at >= to_timestamp(${startedAt / 1000})`;
  const leg = (values: [number, number] | undefined) => ({
    p50: round(values?.[0] ?? 0, 2),
    p99: round(values?.[1] ?? 0, 2),
  });
  return {
    latencyMs: percentiles(times.map((t) => (t.appliedAt ?? 0) - t.writtenAt)),
    stages: {
      to_relay: leg(legs?.toRelay),
      relay_to_inbox: leg(legs?.relayToInbox),
      inbox_to_applied: leg(legs?.inboxToApplied),
    },
    sentPerS: perSecond(times.length, endedAt - startedAt),
  };
}

/** Every event Sales wrote was applied in Orders, and every product is in Orders' cache. */
export async function checkNothingLost(sql: Sql): Promise<{ events: number; products: number }> {
  const [row] = await sql<
    { events: number; applied: number; products: number; cached: number; unhealthy: number }[]
  >`
    select (select count(*) from sales.outbox_messages)::int as events,
           (select count(*) from orders.inbox_messages where status = 'processed')::int as applied,
           (select count(*) from sales.products)::int as products,
           (select count(*) from orders.product_cache)::int as cached,
           (select count(*) from orders.inbox_messages
            where status in ('parked', 'dead', 'ignored'))::int as unhealthy`;
  if (!row || row.events !== row.applied || row.products !== row.cached || row.unhealthy !== 0) {
    throw new Error(`events lost or not applied: ${JSON.stringify(row)}`);
  }
  return { events: row.events, products: row.products };
}
