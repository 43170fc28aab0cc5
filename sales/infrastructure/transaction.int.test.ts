import { describe, expect, test } from "bun:test";
import {
  ConflictError,
  closeDatabase,
  createDatabase,
  isLockTimeout,
  migrate,
  NotFoundError,
} from "shared";
import { useTestDatabase, waitFor } from "shared/testing/test-environment.ts";
import { createProductUseCase } from "../application/create-product.ts";
import type { RequestContext, TransactionScope } from "../application/ports.ts";
import { dispatchDomainEvents } from "../application/product-event-handlers.ts";
import { createProduct, type Product, type ProductChange } from "../domain/product.ts";
import { MIGRATIONS } from "../main.ts";
import { createRunInTransaction } from "./transaction.ts";

const db = await useTestDatabase();
await migrate(db.sql, MIGRATIONS);

let wakeUps = 0;
const inTransaction = createRunInTransaction({
  sql: db.sql,
  newEventId: () => Bun.randomUUIDv7(),
  onEventsCommitted: () => wakeUps++,
});

/** A backend of this database waiting on a lock (`Lock`) or in `pg_sleep` (`Timeout`): its pid. */
function backendWaiting(on: "Lock" | "Timeout", message: string): Promise<number> {
  return waitFor(
    async () => {
      const [row] = await db.sql<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = current_database() and wait_event_type = ${on}`;
      return row?.pid;
    },
    { message },
  );
}

let skus = 0;
/** A new product and the domain events creating it raises. */
function newProduct(sku = `TX-${++skus}`): ProductChange {
  return createProduct(
    { sku, name: "Mug", description: null, price: { amount: 100, currency: "EUR" } },
    { id: Bun.randomUUIDv7(), now: new Date() },
  );
}

async function rowsFor(product: Product) {
  const [counts] = await db.sql<{ products: number; events: number }[]>`
    select (select count(*) from sales.products where id = ${product.id})::int as products,
           (select count(*) from sales.outbox_messages
            where payload->>'subject' = ${product.id})::int as events`;
  return counts;
}

test("writes do not wait for Postgres, and commit together once they have all succeeded", async () => {
  const { product, events } = newProduct();
  const blocker = await db.sql.reserve();
  await blocker`begin`;
  await blocker`lock table sales.products in exclusive mode`;
  let workDone = false;
  const wakeUpsBefore = wakeUps;
  const committed = inTransaction(async ({ products, eventBus }) => {
    products.add(product);
    dispatchDomainEvents(events, eventBus);
    workDone = true;
    return product.id;
  }, {});
  try {
    // The use case is done while its insert still waits for the lock.
    await waitFor(() => workDone, { message: "the use case to return" });
    expect(await rowsFor(product)).toEqual({ products: 0, events: 0 });
  } finally {
    await blocker`rollback`;
    blocker.release();
  }
  expect(await committed).toBe(product.id);
  expect(await rowsFor(product)).toEqual({ products: 1, events: 1 });
  expect(wakeUps).toBe(wakeUpsBefore + 1);
});

test("a failed write fails the transaction with its own error, even with a read after it", async () => {
  const { product: existing } = newProduct();
  await inTransaction(async ({ products }) => products.add(existing), {});
  const { product: duplicate, events } = newProduct(existing.sku);

  const attempt = inTransaction(async ({ products, eventBus }) => {
    products.add(duplicate);
    dispatchDomainEvents(events, eventBus);
    // Runs in the transaction the failed insert aborted: its own error would hide the cause.
    await products.getForUpdate(existing.id);
    return "committed";
  }, {});

  await expect(attempt).rejects.toBeInstanceOf(ConflictError);
  expect(await rowsFor(duplicate)).toEqual({ products: 0, events: 0 });
});

test("a use case that throws after queueing writes commits none of them and frees its connection", async () => {
  const { product, events } = newProduct();
  // More attempts than the pool has connections: each one must give its connection back.
  for (let attempt = 0; attempt < 12; attempt++) {
    const failing = inTransaction(async ({ products, eventBus }) => {
      products.add(product);
      dispatchDomainEvents(events, eventBus);
      throw new Error("the use case changed its mind");
    }, {});
    await expect(failing).rejects.toThrow("the use case changed its mind");
  }
  expect(await rowsFor(product)).toEqual({ products: 0, events: 0 });
});

test("a transaction whose connection Postgres closes rejects, and the pool goes on working", async () => {
  const { product } = newProduct();
  const blocker = await db.sql.reserve();
  await blocker`begin`;
  await blocker`lock table sales.products in exclusive mode`;
  const cut = inTransaction(async ({ products }) => products.add(product), {});
  try {
    const waiting = await backendWaiting("Lock", "the write waiting for the lock");
    await db.sql`select pg_terminate_backend(${waiting})`;
    await expect(cut).rejects.toThrow();
  } finally {
    await blocker`rollback`;
    blocker.release();
  }
  // More transactions than the pool has connections, each of which must find a live one.
  for (let attempt = 0; attempt < 12; attempt++) {
    const { product: next } = newProduct();
    await inTransaction(async ({ products }) => products.add(next), {});
    expect(await rowsFor(next)).toEqual({ products: 1, events: 0 });
  }
  expect(await rowsFor(product)).toEqual({ products: 0, events: 0 });
});

describe("group commit", () => {
  /** One transaction at a time, so use cases queued behind a held lock share the next one. */
  const committed: number[] = [];
  const runAgain: number[] = [];
  const oneAtATime = createRunInTransaction({
    sql: db.sql,
    newEventId: () => Bun.randomUUIDv7(),
    onEventsCommitted: () => {},
    transactionsInFlight: 1,
    metrics: {
      committed: (useCases) => void committed.push(useCases),
      runAgainAlone: (useCases) => void runAgain.push(useCases),
    },
  });

  let running = 0;
  let mostAtOnce = 0;
  /** Work that creates `change`'s product, counting runs and how many run at once. */
  const creating = (change: ProductChange, runs: { count: number } = { count: 0 }) => {
    return async ({ products, eventBus }: TransactionScope) => {
      runs.count++;
      mostAtOnce = Math.max(mostAtOnce, ++running);
      await Bun.sleep(0);
      running--;
      products.add(change.product);
      dispatchDomainEvents(change.events, eventBus);
      return change.product.id;
    };
  };
  const create = (change: ProductChange, context: RequestContext = {}) =>
    oneAtATime(creating(change), context, { shared: true });

  /** Holds the products table while `queue` is called, so what it queues waits together. */
  async function behindALock<T>(queue: () => T): Promise<{ first: Promise<string>; queued: T }> {
    const blocker = await db.sql.reserve();
    await blocker`begin`;
    await blocker`lock table sales.products in exclusive mode`;
    try {
      const first = create(newProduct());
      await backendWaiting("Lock", "the first transaction waiting for the lock");
      return { first, queued: queue() };
    } finally {
      await blocker`rollback`;
      blocker.release();
    }
  }

  async function transactionIds(ids: string[]) {
    const rows = await db.sql<{ xid: string }[]>`
      select xmin::text as xid from sales.products where id = any(${ids}::uuid[])`;
    return new Set(rows.map((row) => row.xid));
  }

  test("use cases that arrive while a transaction runs commit together in the next one", async () => {
    const changes = [newProduct(), newProduct(), newProduct()];
    const { first, queued } = await behindALock(() => changes.map((change) => create(change)));
    const ids = await Promise.all(queued);
    await first;
    expect(ids).toEqual(changes.map((change) => change.product.id));
    expect((await transactionIds(ids)).size).toBe(1);
    expect(committed.at(-1)).toBe(3);
    for (const change of changes) {
      expect(await rowsFor(change.product)).toEqual({ products: 1, events: 1 });
    }
  });

  test("a use case that is not shared runs in a transaction of its own", async () => {
    const [shared, own] = [newProduct(), newProduct()];
    const { first, queued } = await behindALock(() => [
      create(shared),
      oneAtATime(creating(own), {}),
    ]);
    const ids = await Promise.all(queued);
    await first;
    expect((await transactionIds(ids)).size).toBe(2);
  });

  test("a use case that is not shared does not wait for a transaction to be free", async () => {
    const blocker = await db.sql.reserve();
    await blocker`begin`;
    await blocker`lock table sales.products in exclusive mode`;
    const first = create(newProduct()); // holds the one transaction allowed, waiting for the lock
    try {
      await backendWaiting("Lock", "the shared transaction waiting for the lock");
      // Reading is allowed under that lock: this must answer while the lock is still held.
      const found = await oneAtATime(
        async ({ products }) => products.findByIdempotencyKey("-"),
        {},
      );
      expect(found).toBeUndefined();
    } finally {
      await blocker`rollback`;
      blocker.release();
    }
    await first;
  });

  test("one that fails before it writes fails alone, in the same transaction as the others", async () => {
    const [before, after] = [newProduct(), newProduct()];
    const { first, queued } = await behindALock(() => [
      create(before),
      oneAtATime(
        async () => {
          throw new NotFoundError("Product x not found");
        },
        {},
        { shared: true },
      ),
      create(after),
    ]);
    const outcomes = await Promise.allSettled(queued);
    await first;
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(NotFoundError);
    const ids = [before.product.id, after.product.id];
    expect((await transactionIds(ids)).size).toBe(1);
  });

  test("one that fails after writing fails alone; the others run again alone, one at a time", async () => {
    const { product: existing } = newProduct();
    await inTransaction(async ({ products }) => products.add(existing), {});
    const changes = [newProduct(), newProduct(existing.sku), newProduct(), newProduct()];
    const runs = changes.map(() => ({ count: 0 }));
    mostAtOnce = 0;
    const { first, queued } = await behindALock(() =>
      changes.map((change, index) =>
        oneAtATime(creating(change, runs[index]), {}, { shared: true }),
      ),
    );
    const outcomes = await Promise.allSettled(queued);
    await first;
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect(runs.map((run) => run.count)).toEqual([2, 2, 2, 2]);
    expect(runAgain.at(-1)).toBe(4);
    expect(mostAtOnce).toBe(1); // never more transactions than allowed, retries included
    for (const [index, change] of changes.entries()) {
      const expected = index === 1 ? { products: 0, events: 0 } : { products: 1, events: 1 };
      expect(await rowsFor(change.product)).toEqual(expected);
    }
  });

  test("one answered 503 while it waited is not run at all; the others are", async () => {
    const timedOut = new AbortController();
    const deadline = { signal: timedOut.signal, committing: false };
    const [late, onTime] = [newProduct(), newProduct()];
    const lateRuns = { count: 0 };
    const { first, queued } = await behindALock(() => {
      const outcomes = [
        oneAtATime(creating(late, lateRuns), { deadline }, { shared: true }),
        create(onTime),
      ];
      timedOut.abort(new Error("answered 503"));
      return outcomes;
    });
    const [lateOutcome, onTimeOutcome] = await Promise.allSettled(queued);
    await first;
    expect((lateOutcome as PromiseRejectedResult).reason).toEqual(new Error("answered 503"));
    expect(lateRuns.count).toBe(0);
    expect(deadline.committing).toBe(false);
    expect(onTimeOutcome?.status).toBe("fulfilled");
    expect(await rowsFor(late.product)).toEqual({ products: 0, events: 0 });
    expect(await rowsFor(onTime.product)).toEqual({ products: 1, events: 1 });
  });

  test("one waiting on a row another session holds fails alone at lock_timeout; the others commit", async () => {
    // As Sales' pool: statements give up waiting for a lock well within the request time limit.
    const quickToGiveUpSql = createDatabase(db.url, { name: "lock-timeout", lockTimeoutMs: 200 });
    const quickToGiveUp = createRunInTransaction({
      sql: quickToGiveUpSql,
      newEventId: () => Bun.randomUUIDv7(),
      onEventsCommitted: () => {},
      transactionsInFlight: 1,
    });
    // Another session's uncommitted insert of the same sku (a forgotten psql transaction).
    const held = newProduct();
    const session = await db.sql.reserve();
    await session`begin`;
    await session`
      insert into sales.products (id, sku, name, price_amount, price_currency, version, created_at, updated_at)
      values (${Bun.randomUUIDv7()}, ${held.product.sku}, 'Held', 1, 'EUR', 1, now(), now())`;
    try {
      // The first transaction waits at the gate, so the rest queue and share the next one.
      const gate = Promise.withResolvers<void>();
      const first = quickToGiveUp(() => gate.promise, {}, { shared: true });
      const others = [newProduct(), newProduct(), newProduct()];
      const queued = [held, ...others].map((change) =>
        quickToGiveUp(creating(change), {}, { shared: true }),
      );
      gate.resolve();
      await first;
      const outcomes = await Promise.allSettled(queued);
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        "rejected",
        "fulfilled",
        "fulfilled",
        "fulfilled",
      ]);
      expect(isLockTimeout((outcomes[0] as PromiseRejectedResult).reason)).toBe(true);
      for (const change of others) {
        expect(await rowsFor(change.product)).toEqual({ products: 1, events: 1 });
      }
    } finally {
      await session`rollback`;
      session.release();
      await closeDatabase(quickToGiveUpSql);
    }
  });

  /** A trigger deferred to COMMIT that runs `body` for the products whose sku starts with `prefix`. */
  async function atCommit(prefix: string, body: string, test: () => Promise<void>) {
    await db.sql.unsafe(`
      create function sales.at_commit() returns trigger language plpgsql as $$
      begin
        if new.sku like '${prefix}%' then ${body} end if;
        return new;
      end $$;
      create constraint trigger at_commit after insert on sales.products
        deferrable initially deferred for each row execute function sales.at_commit();`);
    try {
      await test();
    } finally {
      await db.sql.unsafe(`
        drop trigger at_commit on sales.products;
        drop function sales.at_commit();`);
    }
  }

  test("a COMMIT that Postgres refuses sends each use case again alone", async () => {
    await atCommit("REFUSED-", "raise exception 'refused at commit';", async () => {
      const [fine, refused] = [newProduct(), newProduct(`REFUSED-${skus}`)];
      const runs = [{ count: 0 }, { count: 0 }];
      const { first, queued } = await behindALock(() =>
        [fine, refused].map((change, index) =>
          oneAtATime(creating(change, runs[index]), {}, { shared: true }),
        ),
      );
      const outcomes = await Promise.allSettled(queued);
      await first;
      expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected"]);
      expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain("refused at commit");
      expect(runs.map((run) => run.count)).toEqual([2, 2]);
      expect(await rowsFor(fine.product)).toEqual({ products: 1, events: 1 });
    });
  });

  test("one that failed before it writes runs again alone if the others do not commit", async () => {
    // Creations with the same Idempotency-Key: the second reads the first's uncommitted product.
    const createProductOnce = createProductUseCase({
      inTransaction: oneAtATime,
      newId: () => Bun.randomUUIDv7(),
      now: () => new Date(),
    });
    const key = `KEY-${++skus}`;
    const input = (sku: string) => ({
      sku,
      name: "Mug",
      description: null,
      price: { amount: 100, currency: "EUR" },
    });
    await atCommit("REFUSED-", "raise exception 'refused at commit';", async () => {
      const { first, queued } = await behindALock(() => [
        createProductOnce(input(`REFUSED-${skus}`), { idempotencyKey: key }),
        createProductOnce(input(`OTHER-${skus}`), { idempotencyKey: key }),
      ]);
      const [refused, other] = await Promise.allSettled(queued);
      await first;
      expect(String((refused as PromiseRejectedResult).reason)).toContain("refused at commit");
      // Not 422 for a key "already used" by a product that never existed.
      expect(other).toMatchObject({ status: "fulfilled", value: { replayed: false } });
      const [row] = await db.sql<{ sku: string }[]>`
        select sku from sales.products where idempotency_key = ${key}`;
      expect(row?.sku).toBe(`OTHER-${skus}`);
    });
  });

  test("a COMMIT whose connection is lost fails every use case it carried, and none runs again", async () => {
    await atCommit("SLOW-", "perform pg_sleep(30);", async () => {
      const [fine, slow] = [newProduct(), newProduct(`SLOW-${skus}`)];
      const runs = [{ count: 0 }, { count: 0 }];
      const deadlines = [fine, slow].map(() => ({
        signal: new AbortController().signal,
        committing: false,
      }));
      const { first, queued } = await behindALock(() =>
        [fine, slow].map((change, index) =>
          oneAtATime(
            creating(change, runs[index]),
            { deadline: deadlines[index] },
            { shared: true },
          ),
        ),
      );
      await first;
      const sleeping = await backendWaiting("Timeout", "the COMMIT running the slow trigger");
      await db.sql`select pg_terminate_backend(${sleeping})`;
      const outcomes = await Promise.allSettled(queued);
      expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
      expect(runs.map((run) => run.count)).toEqual([1, 1]);
      expect(deadlines.map((deadline) => deadline.committing)).toEqual([true, true]);
      expect(await rowsFor(fine.product)).toEqual({ products: 0, events: 0 });
    });
  });
});
