import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { SALES_STREAM, SALES_SUBJECTS } from "contracts";
import {
  ensureStream,
  errorMessage,
  type IntervalLoop,
  type Logger,
  type NatsLink,
  type NatsNames,
  type StreamSpec,
  startIntervalLoop,
} from "shared";

export type SalesStreamOptions = {
  nats: NatsLink;
  names: NatsNames;
  log: Logger;
  maxAgeMs: number;
  /** How often to re-check the stream besides every (re)connect. */
  checkIntervalMs?: number;
};

export type SalesStream = IntervalLoop & {
  readonly spec: StreamSpec;
  /** True once the stream was ensured on the current connection. */
  readonly isReady: boolean;
};

/** JetStream drops a re-sent `Nats-Msg-Id` seen within this window. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

/**
 * Keeps stream `SALES` (`sales.>`, limits retention, file storage, 2 min duplicate window)
 * in place: ensured as soon as NATS answers, after every reconnect, and periodically.
 */
export function startSalesStream({
  nats,
  names,
  log,
  maxAgeMs,
  checkIntervalMs = 30_000,
}: SalesStreamOptions): SalesStream {
  const spec: StreamSpec = {
    name: names.stream(SALES_STREAM),
    subjects: [names.subject(SALES_SUBJECTS)],
    maxAgeMs,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
  };
  let ready = false;
  let manager: { connection: NatsConnection; jsm: JetStreamManager } | undefined;

  async function managerFor(connection: NatsConnection): Promise<JetStreamManager> {
    if (manager?.connection !== connection)
      manager = { connection, jsm: await jetstreamManager(connection) };
    return manager.jsm;
  }

  const loop = startIntervalLoop({
    name: "sales-stream",
    intervalMs: checkIntervalMs,
    log,
    run: async () => {
      const connection = nats.connection;
      if (!connection || !nats.isConnected) {
        ready = false;
        return;
      }
      try {
        const { outcome } = await ensureStream(await managerFor(connection), spec);
        if (outcome !== "unchanged") log.info({ stream: spec.name, outcome }, "stream ensured");
        ready = true;
      } catch (error) {
        ready = false;
        log.error({ stream: spec.name, err: errorMessage(error) }, "cannot ensure stream");
      }
    },
  });

  return {
    ...loop,
    spec,
    get isReady() {
      return ready && nats.isConnected;
    },
  };
}
