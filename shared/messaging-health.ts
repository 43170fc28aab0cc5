/** Where `/health/messaging` turns degraded and unhealthy. */
export type MessagingHealthThresholds = {
  pendingAgeDegradedMs: number;
  pendingAgeUnhealthyMs: number;
  deadDegraded: number;
  deadUnhealthy: number;
};

/** What a process has not delivered yet: its outbox (Sales) or its inbox (Orders). */
export type MessagingBacklog = {
  pending: number;
  /** Age of the oldest pending message; null when none is pending. */
  oldestPendingAgeMs: number | null;
  /** Messages that will not go through without an operator (dead or parked). */
  dead: number;
};

export type HealthStatus = "healthy" | "degraded" | "unhealthy";

export type MessagingHealth = {
  status: HealthStatus;
  pending: number;
  oldestPendingAgeMs: number | null;
  dead: number;
  checks: {
    oldestPendingAge: { status: HealthStatus; degradedAtMs: number; unhealthyAtMs: number };
    dead: { status: HealthStatus; degradedAt: number; unhealthyAt: number };
  };
};

const RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

function grade(value: number, degradedAt: number, unhealthyAt: number): HealthStatus {
  if (value >= unhealthyAt) return "unhealthy";
  if (value >= degradedAt) return "degraded";
  return "healthy";
}

/** Grades a backlog: the worse of its oldest pending age and its dead count. */
export function assessMessagingHealth(
  backlog: MessagingBacklog,
  thresholds: MessagingHealthThresholds,
): MessagingHealth {
  const age = grade(
    backlog.oldestPendingAgeMs ?? 0,
    thresholds.pendingAgeDegradedMs,
    thresholds.pendingAgeUnhealthyMs,
  );
  const dead = grade(backlog.dead, thresholds.deadDegraded, thresholds.deadUnhealthy);
  return {
    status: RANK[age] >= RANK[dead] ? age : dead,
    pending: backlog.pending,
    oldestPendingAgeMs: backlog.oldestPendingAgeMs,
    dead: backlog.dead,
    checks: {
      oldestPendingAge: {
        status: age,
        degradedAtMs: thresholds.pendingAgeDegradedMs,
        unhealthyAtMs: thresholds.pendingAgeUnhealthyMs,
      },
      dead: {
        status: dead,
        degradedAt: thresholds.deadDegraded,
        unhealthyAt: thresholds.deadUnhealthy,
      },
    },
  };
}

/** The thresholds from a process' environment (the `HEALTH_*` variables of its `env.ts`). */
export function messagingHealthThresholds(env: {
  HEALTH_PENDING_AGE_DEGRADED_MS: number;
  HEALTH_PENDING_AGE_UNHEALTHY_MS: number;
  HEALTH_DEAD_DEGRADED: number;
  HEALTH_DEAD_UNHEALTHY: number;
}): MessagingHealthThresholds {
  return {
    pendingAgeDegradedMs: env.HEALTH_PENDING_AGE_DEGRADED_MS,
    pendingAgeUnhealthyMs: env.HEALTH_PENDING_AGE_UNHEALTHY_MS,
    deadDegraded: env.HEALTH_DEAD_DEGRADED,
    deadUnhealthy: env.HEALTH_DEAD_UNHEALTHY,
  };
}
