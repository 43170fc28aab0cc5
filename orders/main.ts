import { join } from "node:path";
import { IntegrationEvent } from "contracts";
import {
  assessMessagingHealth,
  closeDatabase,
  createDatabase,
  createHttpApp,
  createLogger,
  createMetricsRegistry,
  isDatabaseReachable,
  type Logger,
  messagingHealthThresholds,
  migrateAtStart,
  natsNames,
  runService,
  startNatsLink,
} from "shared";
import { readInboxBacklog, startInbox } from "shared/inbox";
import { createOrdersApi } from "./api/orders.ts";
import { createProductsApi } from "./api/products.ts";
import { placeOrderUseCase } from "./application/place-order.ts";
import { type OrdersEnv, readOrdersEnv } from "./env.ts";
import { findOrderByIdempotencyKey, saveOrder } from "./infrastructure/order-repository.ts";
import { inboxHandlerFor, ORDERS_INBOX } from "./infrastructure/orders-inbox.ts";
import { cachedProductsByIds } from "./infrastructure/product-cache.ts";
import type { IntegrationEventHandlers } from "./integration/handler.ts";
import { integrationEventHandlers } from "./integration/handlers.ts";

export const MIGRATIONS = { schema: "orders", directory: join(import.meta.dir, "migrations") };

export type OrdersOverrides = {
  log?: Logger;
  now?: () => Date;
  newId?: () => string;
  handlers?: IntegrationEventHandlers;
  /** Tests shorten the HTTP time limit (5 s). */
  requestTimeoutMs?: number;
};

/** Wires the Orders process together and starts it; `stop()` shuts it down in order. */
export async function startOrders(env: OrdersEnv, overrides: OrdersOverrides = {}) {
  const log = overrides.log ?? createLogger("orders", env.LOG_LEVEL);
  const now = overrides.now ?? (() => new Date());
  const newId = overrides.newId ?? (() => Bun.randomUUIDv7());
  const handlers = overrides.handlers ?? integrationEventHandlers;

  const sql = createDatabase(env.DATABASE_URL, {
    name: "orders",
    max: env.DATABASE_POOL_SIZE,
    role: env.DATABASE_ROLE || undefined,
  });
  await migrateAtStart(sql, {
    url: env.DATABASE_URL,
    migrations: MIGRATIONS,
    migrateOnStart: env.MIGRATE_ON_START,
    command: "bun orders/migrate.ts",
    log,
  }).catch(async (error: unknown) => {
    await closeDatabase(sql);
    throw error;
  });

  const metrics = createMetricsRegistry({ log });
  const names = natsNames(env.NATS_NAMESPACE);
  const nats = startNatsLink({
    url: env.NATS_URL,
    name: "orders",
    log,
    onConnect: () => inbox.onConnect(),
  });
  const inbox = startInbox({
    sql,
    nats,
    names,
    inbox: ORDERS_INBOX,
    log,
    metrics,
    eventSchema: IntegrationEvent,
    handles: (type) => Object.hasOwn(handlers, type),
    handlerFor: inboxHandlerFor(handlers),
    batchSize: env.INBOX_BATCH_SIZE,
    pollMs: env.INBOX_POLL_MS,
    maxAttempts: env.INBOX_MAX_ATTEMPTS,
    ackWaitMs: env.CONSUMER_ACK_WAIT_MS,
    maxAckPending: env.CONSUMER_MAX_ACK_PENDING,
    retentionMs: env.INBOX_RETENTION_MS,
    retentionIntervalMs: env.RETENTION_INTERVAL_MS,
  });
  const { consumer, processInboxJob } = inbox;

  const thresholds = messagingHealthThresholds(env);
  const app = createHttpApp({
    log,
    requestTimeoutMs: overrides.requestTimeoutMs,
    readiness: {
      postgres: () => isDatabaseReachable(sql),
      nats: () => nats.isConnected,
      consumer: () => consumer.isConsuming,
    },
    metrics,
    messagingHealth: async () => {
      const backlog = await readInboxBacklog(sql, ORDERS_INBOX);
      return assessMessagingHealth({ ...backlog, dead: backlog.dead + backlog.parked }, thresholds);
    },
    api: {
      title: "Orders",
      version: "1",
      description:
        "Prices orders from its own copy of Sales' products, kept up to date by Sales' events.",
    },
  });
  app.route("/products", createProductsApi({ sql }));
  app.route(
    "/orders",
    createOrdersApi({
      sql,
      placeOrder: placeOrderUseCase({
        productsByIds: (ids) => cachedProductsByIds(sql, ids),
        saveOrder: (order, options) => saveOrder(sql, order, options),
        orderByIdempotencyKey: (key) => findOrderByIdempotencyKey(sql, key),
        newId,
        now,
      }),
    }),
  );
  const server = Bun.serve({ port: env.PORT, hostname: "0.0.0.0", fetch: app.fetch });
  log.info({ port: server.port, stream: names.stream(ORDERS_INBOX.stream) }, "orders listening");

  return {
    app,
    log,
    server,
    sql,
    nats,
    consumer,
    processInboxJob,
    names,
    metrics,
    /** Stops taking requests and messages, finishes the batches in hand, drains, closes. */
    async stop() {
      await server.stop();
      await inbox.stop();
      await nats.close();
      await closeDatabase(sql);
      log.info("orders stopped");
    },
  };
}

export type OrdersProcess = Awaited<ReturnType<typeof startOrders>>;

if (import.meta.main) {
  const env = readOrdersEnv();
  await runService("orders", env.LOG_LEVEL, (log) => startOrders(env, { log }));
}
