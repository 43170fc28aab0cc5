/** Building blocks both modules use; knows nothing of Sales, Orders or the contracts. */
export { retryDelayMs } from "./backoff.ts";
export type { Queryable, Sql, Transaction } from "./database.ts";
export {
  closeDatabase,
  createDatabase,
  isDatabaseReachable,
  isDatabaseUnavailable,
  isUniqueViolation,
} from "./database.ts";
export {
  databaseRoleVariable,
  databaseUrlVariable,
  EnvError,
  integerVariable,
  loadEnv,
  logLevelVariable,
  natsNamespaceVariable,
  natsUrlVariable,
  parseEnv,
  portVariable,
} from "./env.ts";
export type { Issue } from "./errors.ts";
export {
  ConflictError,
  errorMessage,
  NotFoundError,
  UnavailableError,
  UnprocessableError,
  ValidationError,
} from "./errors.ts";
export type { ReadinessChecks } from "./http.ts";
export { createHttpApp, jsonBody, pathParams, queryParams } from "./http.ts";
export type { IntervalLoop } from "./interval-loop.ts";
export { startIntervalLoop } from "./interval-loop.ts";
export type { Logger } from "./logger.ts";
export { createLogger } from "./logger.ts";
export type { MigrationResult } from "./migrations.ts";
export { migrate, migrateDatabase } from "./migrations.ts";
export type { EnsureStreamResult, NatsLink, NatsNames, StreamSpec } from "./nats.ts";
export {
  connectNats,
  ensureStream,
  isJetStreamApiError,
  natsNames,
  startNatsLink,
  streamInfo,
} from "./nats.ts";
export { stopOnSignals } from "./process.ts";
export { newTraceparent, traceIdOf } from "./trace.ts";
export { parseOrThrow, toIssues } from "./validation.ts";
