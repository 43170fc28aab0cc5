import type { Sql } from "../database.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { NatsLink, NatsNames } from "../nats.ts";
import { createOutboxMetrics } from "./metrics.ts";
import { makePendingRowsDue, type OutboxRelay, startOutboxRelay } from "./relay.ts";
import { startOutboxRetention } from "./retention.ts";
import type { OutboxSpec } from "./spec.ts";
import { type StreamCheck, startStreamCheck } from "./stream-check.ts";

export type OutboxOptions = {
  sql: Sql;
  /** The module's NATS link; its `onConnect` calls the outbox's `onConnect`. */
  nats: NatsLink;
  names: NatsNames;
  outbox: OutboxSpec;
  log: Logger;
  metrics: MetricsRegistry;
  /** The stream's `max_age`: what the stream check expects it to hold. */
  streamMaxAgeMs: number;
  pollMs: number;
  batchSize: number;
  /** How long published rows are kept (the stream check re-sends what NATS loses from them). */
  retentionMs: number;
  retentionIntervalMs: number;
};

/** A module's outbox at work in its process. */
export type Outbox = {
  stream: StreamCheck;
  /** Wake it after each commit that wrote events. */
  relay: OutboxRelay;
  /** For the NATS link's `onConnect`: the stream is checked again, and backed-off rows go now. */
  onConnect(): void;
  /** Stops the relay (after the batch in hand), the retention and the stream check. */
  stop(): Promise<void>;
};

/**
 * Starts what sends a module's outbox: the stream check (on every connect and every 30 s), the
 * relay, which publishes only once the check has verified the stream on the current connection,
 * and the retention of published rows.
 */
export function startOutbox(options: OutboxOptions): Outbox {
  const { sql, nats, names, outbox, log } = options;
  const stream = startStreamCheck({
    sql,
    nats,
    names,
    outbox,
    loopName: `${outbox.metricPrefix}-stream`,
    log,
    maxAgeMs: options.streamMaxAgeMs,
    onVerified: () => relay.wake(),
  });
  const relay = startOutboxRelay({
    sql,
    nats,
    names,
    outbox,
    log,
    isStreamReady: () => stream.isReady,
    onUnansweredPublish: () => stream.recheckForUnansweredPublish(),
    pollMs: options.pollMs,
    batchSize: options.batchSize,
    metrics: createOutboxMetrics(options.metrics, sql, outbox),
  });
  const retention = startOutboxRetention({
    sql,
    outbox,
    log,
    retentionMs: options.retentionMs,
    intervalMs: options.retentionIntervalMs,
  });

  return {
    stream,
    relay,
    onConnect() {
      stream.wake();
      // Rows that backed off while NATS was away need not wait out their delay.
      makePendingRowsDue(sql, outbox)
        .catch((error) =>
          log.warn(
            { err: errorMessage(error) },
            "cannot make waiting outbox rows due; they keep their delay",
          ),
        )
        .then(() => relay.wake());
    },
    async stop() {
      await relay.stop();
      await retention.stop();
      await stream.stop();
    },
  };
}
