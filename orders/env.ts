import {
  booleanVariable,
  databaseRoleVariable,
  databaseUrlVariable,
  integerVariable,
  intervalVariable,
  keepVariable,
  loadEnv,
  logLevelVariable,
  natsNamespaceVariable,
  natsUrlVariable,
  portVariable,
} from "shared";
import * as v from "valibot";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Every setting of the Orders process, from the environment. */
export const OrdersEnv = v.object({
  PORT: portVariable(3002),
  DATABASE_URL: databaseUrlVariable,
  /** The runtime connection acts as this role, which reaches only the orders schema. */
  DATABASE_ROLE: databaseRoleVariable("orders"),
  /**
   * Applies the schema's migrations at start, over DATABASE_URL. False where that login may not
   * (a login of the module's own): the process then only checks they were applied.
   */
  MIGRATE_ON_START: booleanVariable(true),
  DATABASE_POOL_SIZE: integerVariable(10, { min: 1, max: 200 }),
  NATS_URL: natsUrlVariable,
  NATS_NAMESPACE: natsNamespaceVariable,
  LOG_LEVEL: logLevelVariable,
  /** How often ProcessInboxJob looks for due rows when nothing woke it. */
  INBOX_POLL_MS: intervalVariable(1000, { min: 1 }),
  INBOX_BATCH_SIZE: integerVariable(500, { min: 1, max: 10_000 }),
  /** Failed attempts after which an inbox row is dead (kept, no longer retried). */
  INBOX_MAX_ATTEMPTS: integerVariable(10, { min: 1 }),
  /** How long processed and ignored inbox rows are kept; never less than the stream's max_age plus an hour. */
  INBOX_RETENTION_MS: keepVariable(30 * DAY_MS, { min: 60_000 }),
  /** How often the retention loop looks for rows to delete. */
  RETENTION_INTERVAL_MS: intervalVariable(10 * 60_000, { min: 1_000 }),
  /** How long the server waits for an ack before redelivering. */
  CONSUMER_ACK_WAIT_MS: integerVariable(30_000, { min: 1_000 }),
  /**
   * Messages delivered but not yet stored and acked: a few intake batches keep the pipeline
   * full; more only sit in memory (10 000 cost ~50 MB of RSS and no throughput, measured).
   */
  CONSUMER_MAX_ACK_PENDING: integerVariable(2_000, { min: 1 }),
  /** `/health/messaging` is degraded, then unhealthy, once the oldest pending inbox message is this old. */
  HEALTH_PENDING_AGE_DEGRADED_MS: integerVariable(60_000, { min: 1 }),
  HEALTH_PENDING_AGE_UNHEALTHY_MS: integerVariable(300_000, { min: 1 }),
  /** … or once there are this many dead and parked inbox messages. */
  HEALTH_DEAD_DEGRADED: integerVariable(1, { min: 1 }),
  HEALTH_DEAD_UNHEALTHY: integerVariable(100, { min: 1 }),
});
export type OrdersEnv = v.InferOutput<typeof OrdersEnv>;

export const readOrdersEnv = (source: Record<string, string | undefined> = process.env) =>
  loadEnv(OrdersEnv, source);
