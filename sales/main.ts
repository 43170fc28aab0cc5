import { join } from "node:path";
import {
  assessMessagingHealth,
  closeDatabase,
  createDatabase,
  createHttpApp,
  createLogger,
  createMetricsRegistry,
  createTurns,
  DEFAULT_REQUEST_TIMEOUT_MS,
  isDatabaseReachable,
  type Logger,
  messagingHealthThresholds,
  migrateAtStart,
  natsNames,
  runService,
  startNatsLink,
} from "shared";
import { readOutboxBacklog, startOutbox } from "shared/outbox";
import { createAsyncApiRoute } from "./api/asyncapi.ts";
import { createProductsApi } from "./api/products.ts";
import { createProductUseCase } from "./application/create-product.ts";
import { updateProductUseCase } from "./application/update-product.ts";
import { readSalesEnv, type SalesEnv } from "./env.ts";
import { createGroupCommitMetrics } from "./infrastructure/group-commit-metrics.ts";
import { SALES_OUTBOX } from "./infrastructure/outbox.ts";
import { createRunInTransaction } from "./infrastructure/transaction.ts";

export const MIGRATIONS = { schema: "sales", directory: join(import.meta.dir, "migrations") };

/**
 * How long a statement waits for a lock (never past the request time limit). Well within that
 * limit: a creation held up by another session's row (an uncommitted insert of the same sku)
 * then fails alone, and the others sharing its transaction still have time to run again alone.
 * Nothing Sales does waits on a lock this long when all is well.
 */
const LOCK_TIMEOUT_MS = 1_000;

export type SalesOverrides = {
  log?: Logger;
  now?: () => Date;
  newId?: () => string;
  /** Tests shorten the HTTP time limit (5 s). */
  requestTimeoutMs?: number;
};

/** Wires the Sales process together and starts it; `stop()` shuts it down in order. */
export async function startSales(env: SalesEnv, overrides: SalesOverrides = {}) {
  const log = overrides.log ?? createLogger("sales", env.LOG_LEVEL);
  const now = overrides.now ?? (() => new Date());
  const newId = overrides.newId ?? (() => Bun.randomUUIDv7());

  const requestTimeoutMs = overrides.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const sql = createDatabase(env.DATABASE_URL, {
    name: "sales",
    max: env.DATABASE_POOL_SIZE,
    role: env.DATABASE_ROLE || undefined,
    lockTimeoutMs: Math.min(LOCK_TIMEOUT_MS, requestTimeoutMs),
  });
  await migrateAtStart(sql, {
    url: env.DATABASE_URL,
    migrations: MIGRATIONS,
    migrateOnStart: env.MIGRATE_ON_START,
    command: "bun sales/migrate.ts",
    log,
  }).catch(async (error: unknown) => {
    await closeDatabase(sql);
    throw error;
  });

  const metrics = createMetricsRegistry({ log });
  const names = natsNames(env.NATS_NAMESPACE);
  const nats = startNatsLink({
    url: env.NATS_URL,
    name: "sales",
    log,
    onConnect: () => outbox.onConnect(),
  });
  const outbox = startOutbox({
    sql,
    nats,
    names,
    outbox: SALES_OUTBOX,
    log,
    metrics,
    streamMaxAgeMs: env.STREAM_MAX_AGE_MS,
    pollMs: env.OUTBOX_POLL_MS,
    batchSize: env.OUTBOX_BATCH_SIZE,
    retentionMs: env.OUTBOX_RETENTION_MS,
    retentionIntervalMs: env.RETENTION_INTERVAL_MS,
  });
  const { relay, stream } = outbox;

  const inTransaction = createRunInTransaction({
    sql,
    newEventId: newId,
    onEventsCommitted: relay.wake,
    transactionsInFlight: env.WRITE_TRANSACTIONS,
    metrics: createGroupCommitMetrics(metrics),
  });
  const thresholds = messagingHealthThresholds(env);
  const app = createHttpApp({
    log,
    requestTimeoutMs,
    pathsWithoutDatabase: ["/asyncapi.json"],
    readiness: {
      postgres: () => isDatabaseReachable(sql),
      nats: () => nats.isConnected,
      // Ensured, and checked for lost messages, on this connection: the relay waits for it.
      stream: () => stream.isReady,
    },
    metrics,
    messagingHealth: async () => {
      const backlog = await readOutboxBacklog(sql, SALES_OUTBOX);
      return assessMessagingHealth({ ...backlog, dead: backlog.parked }, thresholds);
    },
    api: {
      title: "Sales",
      version: "1",
      description:
        "Owns products. Every change is also published as an integration event (see AsyncAPI).",
    },
  });
  // One for every use case that changes a product (see updateProductUseCase).
  const productTurns = createTurns();
  app.route(
    "/products",
    createProductsApi({
      sql,
      createProduct: createProductUseCase({ inTransaction, newId, now }),
      updateProduct: updateProductUseCase({ inTransaction, now, productTurns }),
    }),
  );
  app.route("/asyncapi.json", createAsyncApiRoute());
  const server = Bun.serve({ port: env.PORT, hostname: "0.0.0.0", fetch: app.fetch });
  log.info({ port: server.port, stream: stream.spec.name }, "sales listening");

  return {
    app,
    log,
    server,
    sql,
    nats,
    relay,
    stream,
    names,
    metrics,
    /** Stops taking requests, finishes the relay batch in hand, drains NATS, closes Postgres. */
    async stop() {
      await server.stop();
      await outbox.stop();
      await nats.close();
      await closeDatabase(sql);
      log.info("sales stopped");
    },
  };
}

export type SalesProcess = Awaited<ReturnType<typeof startSales>>;

if (import.meta.main) {
  const env = readSalesEnv();
  await runService("sales", env.LOG_LEVEL, (log) => startSales(env, { log }));
}
