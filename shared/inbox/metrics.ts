import type { Sql } from "../database.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { IntegrationEventConsumerMetrics } from "./consumer.ts";
import { MAX_NAMED_IGNORED_TYPES } from "./inbox.ts";
import type { ProcessInboxJobMetrics } from "./process-inbox-job.ts";
import type { InboxSpec } from "./spec.ts";
import { readInboxBacklog } from "./status.ts";

/**
 * The inbox in `/metrics`: the consumer's and ProcessInboxJob's counters and durations (in
 * memory, per process) and the backlog gauges, read from Postgres at each scrape. Every name
 * starts with the inbox's `metricPrefix` (`orders` for `orders_inbox_pending`); its `reader`
 * and `publisher` name the modules in the help texts, as in the consumer's log lines.
 */
export function createInboxMetrics(
  registry: MetricsRegistry,
  sql: Sql,
  inbox: Pick<InboxSpec, "schema" | "metricPrefix" | "reader" | "publisher">,
): { consumer: IntegrationEventConsumerMetrics; job: ProcessInboxJobMetrics } {
  const { metricPrefix: prefix, reader, publisher } = inbox;
  const received = registry.counter(
    `${prefix}_inbox_received_total`,
    "Messages the consumer stored (or found stored) and acked, redeliveries included.",
  );
  const duplicates = registry.counter(
    `${prefix}_inbox_duplicates_total`,
    "Of those, messages already in the inbox (same event id): skipped.",
  );
  const ignored = registry.counter(
    `${prefix}_inbox_ignored_total`,
    `Events stored as ignored, by type: ${reader} has no handler for them (inbox:replay --all-ignored applies them once it has).`,
  );
  const parkedTotal = registry.counter(
    `${prefix}_inbox_parked_total`,
    "Messages stored as parked by this process: not a valid event.",
  );
  const removedUnread = registry.counter(
    `${prefix}_stream_removed_unread_total`,
    `Messages the stream removed before the consumer was delivered them (a limit, or max age): lost to ${reader} until ${publisher.name} sends them again (${publisher.republishScript}).`,
  );
  const processed = registry.counter(
    `${prefix}_inbox_processed_total`,
    "Inbox messages applied by their handler (committed).",
  );
  const failed = registry.counter(
    `${prefix}_inbox_failed_total`,
    "Failed attempts to handle an inbox message (retried until dead).",
  );
  const died = registry.counter(
    `${prefix}_inbox_dead_total`,
    "Inbox messages this process gave up on (they became dead).",
  );
  const handlers = registry.histogram(
    `${prefix}_inbox_handler_duration_seconds`,
    "Duration of one handler call, by event type and outcome, in seconds (its writes are sent, not awaited: Postgres' part shows in the batch's duration).",
  );
  const batches = registry.histogram(
    `${prefix}_inbox_batch_duration_seconds`,
    "Duration of ProcessInboxJob batches that claimed rows, in seconds.",
  );
  const pending = registry.gauge(
    `${prefix}_inbox_pending`,
    "Inbox messages waiting to be applied.",
  );
  const oldest = registry.gauge(
    `${prefix}_inbox_oldest_pending_age_seconds`,
    "Age of the oldest inbox message waiting to be applied (0 when none waits).",
  );
  const dead = registry.gauge(
    `${prefix}_inbox_dead`,
    "Inbox messages whose handler failed every attempt: not applied without an operator.",
  );
  const parked = registry.gauge(
    `${prefix}_inbox_parked`,
    "Messages stored unread because they are not a valid event.",
  );
  // A type is whatever a message says: a label per type, up to a bound, then one for the rest.
  const labelledTypes = new Set<string>();
  const typeLabel = (type: string | null) => {
    const label = type ?? "(none)";
    if (labelledTypes.has(label)) return label;
    if (labelledTypes.size >= MAX_NAMED_IGNORED_TYPES) return "(other)";
    labelledTypes.add(label);
    return label;
  };
  registry.onScrape("inbox", async () => {
    const backlog = await readInboxBacklog(sql, inbox);
    pending.set(backlog.pending);
    oldest.set((backlog.oldestPendingAgeMs ?? 0) / 1000);
    dead.set(backlog.dead);
    parked.set(backlog.parked);
  });

  return {
    consumer: {
      stored(batch) {
        received.inc({}, batch.received);
        duplicates.inc({}, batch.received - batch.inserted);
        for (const { type } of batch.ignored) ignored.inc({ type: typeLabel(type) });
        if (batch.parked.length > 0) parkedTotal.inc({}, batch.parked.length);
      },
      removedUnread(count) {
        removedUnread.inc({}, count);
      },
    },
    job: {
      handled(type, seconds, outcome) {
        handlers.observe(seconds, { type, outcome });
      },
      batch(result) {
        processed.inc({}, result.processed);
        failed.inc({}, result.failed);
        died.inc({}, result.dead);
        batches.observe(result.seconds);
      },
    },
  };
}
