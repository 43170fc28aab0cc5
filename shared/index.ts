/** Building blocks the modules use; imports nothing of a module or of the contracts. */
export { retryDelayMs } from "./backoff.ts";
export type { ScriptContext, ScriptSpec } from "./cli.ts";
export {
  countOption,
  optionalCountOption,
  parseScriptArgs,
  runScript,
  UsageError,
} from "./cli.ts";
export type { PipelinedTransaction, Queryable, Sql, Transaction } from "./database.ts";
export {
  allQueries,
  closeDatabase,
  createDatabase,
  isDatabaseReachable,
  isDatabaseUnavailable,
  isLockTimeout,
  isPostgresError,
  isTransactionConflict,
  isUniqueViolation,
  listenForWakeUps,
  pipelineWrites,
} from "./database.ts";
export {
  booleanVariable,
  databaseRoleVariable,
  databaseUrlVariable,
  integerVariable,
  intervalVariable,
  keepVariable,
  loadEnv,
  logLevelVariable,
  MAX_KEEP_MS,
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
  UnprocessableError,
  ValidationError,
} from "./errors.ts";
export type { HttpAppOptions, ReadinessChecks, RequestDeadline } from "./http.ts";
export {
  commitInTime,
  createHttpApp,
  DEFAULT_REQUEST_TIMEOUT_MS,
  jsonBody,
  pathParams,
  queryParams,
  requestHeaders,
} from "./http.ts";
export type { IntervalLoop } from "./interval-loop.ts";
export { startIntervalLoop } from "./interval-loop.ts";
export type { Logger } from "./logger.ts";
export { createLogger } from "./logger.ts";
export type {
  HealthStatus,
  MessagingBacklog,
  MessagingHealth,
  MessagingHealthThresholds,
} from "./messaging-health.ts";
export { assessMessagingHealth, messagingHealthThresholds } from "./messaging-health.ts";
export type { Counter, Gauge, Histogram, Labels, MetricsRegistry } from "./metrics.ts";
export { createMetricsRegistry } from "./metrics.ts";
export type { MigrationResult } from "./migrations.ts";
export { migrate, migrateAtStart, migrateDatabase } from "./migrations.ts";
export type { EnsureStreamResult, NatsLink, NatsNames, StreamSpec } from "./nats.ts";
export {
  connectNats,
  ensureStream,
  isJetStreamApiError,
  messageAt,
  natsNames,
  StreamOfAnotherError,
  startNatsLink,
  streamInfo,
  subjectMatches,
} from "./nats.ts";
export type { OpenApiDocument, OpenApiInfo, RouteDoc, RouteResponse } from "./openapi.ts";
export { describeRoute, ErrorResponse, jsonSchemaOf } from "./openapi.ts";
export { runService } from "./process.ts";
export {
  formatBytes,
  formatCount,
  formatDuration,
  formatFields,
  formatTable,
  oneLine,
  progressBar,
} from "./report-text.ts";
export { traceIdOf } from "./trace.ts";
export type { Turns } from "./turns.ts";
export { createTurns } from "./turns.ts";
export { IdempotencyKeyHeader, IdParam, PageQuery, parseOrThrow, toIssues } from "./validation.ts";
