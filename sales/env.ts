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
import { DUPLICATE_WINDOW_MS } from "shared/outbox";
import * as v from "valibot";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Every setting of the Sales process, from the environment. */
export const SalesEnv = v.object({
  PORT: portVariable(3001),
  DATABASE_URL: databaseUrlVariable,
  /** The runtime connection acts as this role, which reaches only the sales schema. */
  DATABASE_ROLE: databaseRoleVariable("sales"),
  /**
   * Applies the schema's migrations at start, over DATABASE_URL. False where that login may not
   * (a login of the module's own): the process then only checks they were applied.
   */
  MIGRATE_ON_START: booleanVariable(true),
  DATABASE_POOL_SIZE: integerVariable(20, { min: 1, max: 200 }),
  /** Most write transactions at once; requests that arrive meanwhile share the next one. */
  WRITE_TRANSACTIONS: integerVariable(4, { min: 1, max: 200 }),
  NATS_URL: natsUrlVariable,
  NATS_NAMESPACE: natsNamespaceVariable,
  LOG_LEVEL: logLevelVariable,
  /** How often the relay looks for due outbox rows when nothing woke it. */
  OUTBOX_POLL_MS: intervalVariable(1000, { min: 1 }),
  OUTBOX_BATCH_SIZE: integerVariable(500, { min: 1, max: 10_000 }),
  /** How long published outbox rows are kept (to refill a broker that lost data), then deleted. */
  OUTBOX_RETENTION_MS: keepVariable(7 * DAY_MS, { min: 60_000 }),
  /** How often the retention loop looks for rows to delete. */
  RETENTION_INTERVAL_MS: intervalVariable(10 * 60_000, { min: 1_000 }),
  /** How long the stream keeps messages (`max_age`); JetStream wants at least the duplicate window. */
  STREAM_MAX_AGE_MS: keepVariable(30 * DAY_MS, { min: DUPLICATE_WINDOW_MS }),
  /** `/health/messaging` is degraded, then unhealthy, once the oldest pending outbox row is this old. */
  HEALTH_PENDING_AGE_DEGRADED_MS: integerVariable(60_000, { min: 1 }),
  HEALTH_PENDING_AGE_UNHEALTHY_MS: integerVariable(300_000, { min: 1 }),
  /** … or once there are this many parked outbox rows. */
  HEALTH_DEAD_DEGRADED: integerVariable(1, { min: 1 }),
  HEALTH_DEAD_UNHEALTHY: integerVariable(100, { min: 1 }),
});
export type SalesEnv = v.InferOutput<typeof SalesEnv>;

export const readSalesEnv = (source: Record<string, string | undefined> = process.env) =>
  loadEnv(SalesEnv, source);
