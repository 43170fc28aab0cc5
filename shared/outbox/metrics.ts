import type { Sql } from "../database.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { OutboxRelayMetrics } from "./relay.ts";
import type { OutboxSpec } from "./spec.ts";
import { readOutboxBacklog } from "./status.ts";

/**
 * The outbox in `/metrics`: the relay's counters and batch durations (in memory, per
 * process) and the backlog gauges, read from Postgres at each scrape. Every name starts with
 * the outbox's `metricPrefix` and `_outbox` (`sales_outbox_pending` for prefix `sales`).
 */
export function createOutboxMetrics(
  registry: MetricsRegistry,
  sql: Sql,
  outbox: OutboxSpec,
): OutboxRelayMetrics {
  const prefix = outbox.metricPrefix;
  const published = registry.counter(
    `${prefix}_outbox_published_total`,
    "Outbox rows published to JetStream (PubAck received) by this process.",
  );
  const duplicates = registry.counter(
    `${prefix}_outbox_publish_duplicates_total`,
    "Of those, PubAcks saying JetStream already had the message (Nats-Msg-Id seen).",
  );
  const failures = registry.counter(
    `${prefix}_outbox_publish_failures_total`,
    "Failed publish attempts by this process; the row is retried, or parked.",
  );
  const parkedByRelay = registry.counter(
    `${prefix}_outbox_parked_total`,
    "Rows this process parked: too large for the stream, or re-sent in vain too often.",
  );
  const batches = registry.histogram(
    `${prefix}_outbox_relay_batch_duration_seconds`,
    "Duration of relay batches that claimed rows (claim, publish, record), in seconds.",
  );
  const pending = registry.gauge(
    `${prefix}_outbox_pending`,
    "Outbox rows waiting to be published.",
  );
  const oldest = registry.gauge(
    `${prefix}_outbox_oldest_pending_age_seconds`,
    "Age of the oldest outbox row waiting to be published (0 when none waits).",
  );
  const parked = registry.gauge(
    `${prefix}_outbox_parked`,
    "Outbox rows parked: they are not published without an operator.",
  );
  registry.onScrape("outbox", async () => {
    const backlog = await readOutboxBacklog(sql, outbox);
    pending.set(backlog.pending);
    oldest.set((backlog.oldestPendingAgeMs ?? 0) / 1000);
    parked.set(backlog.parked);
  });

  return {
    batch(result) {
      published.inc({}, result.published);
      duplicates.inc({}, result.duplicates);
      failures.inc({}, result.failed);
      parkedByRelay.inc({}, result.parked);
      batches.observe(result.seconds);
    },
  };
}
