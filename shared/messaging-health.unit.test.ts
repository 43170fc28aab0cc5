import { describe, expect, test } from "bun:test";
import { assessMessagingHealth } from "./messaging-health.ts";

const thresholds = {
  pendingAgeDegradedMs: 60_000,
  pendingAgeUnhealthyMs: 300_000,
  deadDegraded: 1,
  deadUnhealthy: 100,
};
const status = (oldestPendingAgeMs: number | null, dead: number) =>
  assessMessagingHealth({ pending: 1, oldestPendingAgeMs, dead }, thresholds).status;

describe("assessMessagingHealth", () => {
  test.each([
    [null, 0, "healthy"],
    [59_999, 0, "healthy"],
    [60_000, 0, "degraded"],
    [299_999, 0, "degraded"],
    [300_000, 0, "unhealthy"],
    [0, 1, "degraded"],
    [0, 99, "degraded"],
    [0, 100, "unhealthy"],
    [300_000, 1, "unhealthy"],
    [60_000, 100, "unhealthy"],
  ] as const)("oldest pending %p ms and %p dead is %s", (age, dead, expected) => {
    expect(status(age, dead)).toBe(expected);
  });

  test("reports which check failed and where its thresholds are", () => {
    const health = assessMessagingHealth(
      { pending: 3, oldestPendingAgeMs: 1_000, dead: 2 },
      thresholds,
    );
    expect(health).toMatchObject({
      status: "degraded",
      pending: 3,
      dead: 2,
      checks: {
        oldestPendingAge: { status: "healthy", degradedAtMs: 60_000 },
        dead: { status: "degraded", degradedAt: 1, unhealthyAt: 100 },
      },
    });
  });
});
