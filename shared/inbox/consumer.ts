import {
  type ConsumerMessages,
  JetStreamApiCodes,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { retryDelayMs } from "../backoff.ts";
import type { Sql } from "../database.ts";
import { errorMessage } from "../errors.ts";
import { startIntervalLoop } from "../interval-loop.ts";
import type { Logger } from "../logger.ts";
import { isJetStreamApiError, type NatsLink, type NatsNames } from "../nats.ts";
import { keepDurableConsumer } from "./durable-consumer.ts";
import {
  MAX_NAMED_IGNORED_TYPES,
  type ReceivedMessage,
  type StoredBatch,
  storeReceivedMessages,
} from "./inbox.ts";
import type { InboxSpec } from "./spec.ts";

/**
 * How soon to look again while the stream is missing (the publisher creates it) or the check
 * failed.
 */
const RETRY_MS = 1_000;

/**
 * The key under which a parked message's headers are replaced by why they could not be decoded.
 * No readable header has this name: a header name cannot hold a space.
 */
export const UNREADABLE_HEADERS = "(unreadable headers)";

/** Batches being stored at once. */
const FLUSHES_IN_FLIGHT = 2;

export type IntegrationEventConsumerOptions = {
  sql: Sql;
  /**
   * The module's inbox: its table, how its messages read, the stream and subjects to consume
   * (put in their namespace by `names`), the durable consumer's name, and how log lines name the
   * two modules.
   */
  inbox: Pick<
    InboxSpec,
    "schema" | "parse" | "stream" | "subjects" | "consumerName" | "reader" | "publisher"
  >;
  nats: NatsLink;
  names: NatsNames;
  log: Logger;
  handles: (type: string) => boolean;
  /** Called after a batch committed, e.g. to wake ProcessInboxJob. */
  onStored: (batch: StoredBatch) => void;
  /** Most messages stored by one statement. */
  batchSize: number;
  ackWaitMs: number;
  /** Most delivered-but-unacked messages the server lets this consumer hold. */
  maxAckPending: number;
  /** How often to check the consumer is still there, besides every (re)connect. */
  checkIntervalMs?: number;
  metrics?: IntegrationEventConsumerMetrics;
};

/** Told of every batch stored (see `metrics.ts`). */
export type IntegrationEventConsumerMetrics = {
  /**
   * `received` messages were stored; `inserted` of them were new, the rest duplicates; of the
   * new ones, these are ignored (no handler) or parked (not a valid event).
   */
  stored(batch: { received: number } & StoredBatch): void;
  /** The stream removed `count` messages before this consumer was delivered them. */
  removedUnread(count: number): void;
};

export type IntegrationEventConsumer = {
  /** True while messages are being consumed. */
  readonly isConsuming: boolean;
  /** Re-checks the consumer now (e.g. after the stream was recreated). */
  wake(): void;
  /** Stops pulling, stores and acks the batches in hand, and stops. */
  stop(): Promise<void>;
};

/**
 * The `IntegrationEventConsumer`: a durable pull consumer on the publisher's stream (`SALES`)
 * that stores every message in the module's `inbox_messages` and acks it only after that insert
 * committed. Messages that arrive while batches are being stored wait and go in the next batch
 * (one statement each, two at a time), so throughput grows with load while a lone message is
 * stored at once.
 */
export function startIntegrationEventConsumer(
  options: IntegrationEventConsumerOptions,
): IntegrationEventConsumer {
  const { sql, inbox, nats, names, log, handles, onStored, batchSize } = options;
  const { consumerName, reader } = inbox;
  const stream = names.stream(inbox.stream);
  const durable = keepDurableConsumer({
    sql,
    inbox,
    stream,
    filterSubject: names.subject(inbox.subjects),
    ackWaitMs: options.ackWaitMs,
    maxAckPending: options.maxAckPending,
    handles,
    log,
    metrics: options.metrics,
  });

  let manager: { connection: NatsConnection; jsm: JetStreamManager } | undefined;
  let messages: ConsumerMessages | undefined;
  let waitingForStreamLogged = false;
  /** The error the last check failed with, once said. */
  let errorLogged: string | undefined;
  /** The description of another inbox's consumer of this name, once said. */
  let ownerLogged: string | undefined;
  /** When the consumer `messages` pulls from was created: another one has the same name. */
  let consumingCreated: string | undefined;
  const buffer: JsMsg[] = [];
  const flushing = new Set<Promise<void>>();
  const ignoredTypesLogged = new Set<string | null>();
  let stopped = false;

  /** Ensures the consumer and consumes from it; returns a short retry delay when it could not. */
  async function check(): Promise<number | undefined> {
    const connection = nats.connection;
    if (stopped || !connection || !nats.isConnected) return;
    try {
      if (manager?.connection !== connection) {
        manager = { connection, jsm: await jetstreamManager(connection) };
      }
      const ensured = await durable.ensure(manager.jsm);
      waitingForStreamLogged = false;
      errorLogged = undefined;
      if (ensured.outcome === "another inbox's") {
        messages?.stop();
        messages = undefined;
        if (ownerLogged !== ensured.owner) {
          log.error(
            { stream, consumer: consumerName, description: ensured.owner },
            `the durable consumer named ${consumerName} belongs to another inbox (its description says so): two modules sharing one would each get only part of the messages. Not consuming; give this module's inbox a consumer name of its own, or delete that consumer if nothing uses it`,
          );
          ownerLogged = ensured.owner;
        }
        return;
      }
      ownerLogged = undefined;
      const { outcome, created, delivered } = ensured;
      if (delivered !== undefined) await durable.reportRemovedUnread(manager.jsm, delivered);
      if (outcome === "recreated") {
        log.warn(
          { stream, consumer: consumerName },
          "the stream, or the inbox, no longer holds the last message this consumer acked (one of them lost data, or was restored from an older copy); reading the stream again from its start (the inbox drops what it has)",
        );
      } else if (outcome === "replaced") {
        log.warn(
          { stream, consumer: consumerName },
          "a consumer of that name with another ack or deliver policy or filter was in place; replaced it, reading the stream from its start (the inbox drops what it has)",
        );
      } else if (outcome !== "unchanged") {
        log.info({ stream, consumer: consumerName, outcome }, "consumer ensured");
      }
      if (messages && created !== consumingCreated) {
        // The consumer we pulled from is gone (the broker lost its store, or another instance
        // found the stream had lost messages and made it anew): pull from the one in place.
        messages.stop();
        messages = undefined;
      }
      if (!messages) {
        await startConsuming(connection);
        consumingCreated = created;
      }
    } catch (error) {
      if (isJetStreamApiError(error, JetStreamApiCodes.StreamNotFound)) {
        // Gone with the stream: not consuming (so `/ready` says so) until both are back.
        messages?.stop();
        messages = undefined;
        if (!waitingForStreamLogged) log.info({ stream }, "waiting for the stream to exist");
        waitingForStreamLogged = true;
      } else if (errorLogged !== errorMessage(error)) {
        // Once until it changes: a lasting one (a stream whose subjects do not take this
        // consumer's filter, say) is tried again every second.
        errorLogged = errorMessage(error);
        log.error({ stream, consumer: consumerName, err: errorLogged }, "cannot consume");
      }
      return RETRY_MS;
    }
  }

  async function startConsuming(connection: NatsConnection) {
    const consumer = await jetstream(connection).consumers.get(stream, consumerName);
    const current = await consumer.consume({ max_messages: batchSize * 2, callback: receive });
    messages = current;
    watchNotifications(current);
    void current.closed().then(() => {
      if (messages === current) messages = undefined;
      if (!stopped) guard.wake();
    });
    log.info({ stream, consumer: consumerName }, "consuming");
  }

  async function watchNotifications(current: ConsumerMessages) {
    for await (const status of current.status()) {
      if (
        status.type === "consumer_not_found" ||
        status.type === "consumer_deleted" ||
        status.type === "stream_not_found"
      ) {
        log.warn(
          { stream, consumer: consumerName, notification: status.type },
          "consumer lost, recreating",
        );
        guard.wake();
      }
    }
  }

  function receive(message: JsMsg) {
    buffer.push(message);
    // After the messages that arrived together are all buffered, so they go in one statement.
    if (buffer.length === 1) queueMicrotask(flushMore);
  }

  // Two statements in flight: one batch is prepared and sent while Postgres stores the other.
  function flushMore() {
    while (buffer.length > 0 && flushing.size < FLUSHES_IN_FLIGHT) {
      const batch = buffer.splice(0, batchSize);
      const flushed: Promise<void> = flush(batch)
        // Only an ack or a nak can fail here (e.g. on a closed connection): the server
        // redelivers anyway, and the inbox drops what it already stored.
        .catch((error) =>
          log.error(
            { err: errorMessage(error), messages: batch.length },
            "cannot ack or nak messages; they will be redelivered after the ack wait",
          ),
        )
        .finally(() => {
          flushing.delete(flushed);
          flushMore();
        });
      flushing.add(flushed);
    }
  }

  async function flush(batch: JsMsg[]) {
    let stored: StoredBatch;
    try {
      stored = await storeReceivedMessages(sql, inbox, batch.map(toReceived), handles);
    } catch (error) {
      log.warn(
        { err: errorMessage(error), messages: batch.length },
        "cannot store messages; they will be redelivered",
      );
      const delay = retryDelayMs(Math.min(...batch.map((m) => m.info.deliveryCount)), {
        capMs: 10_000,
      });
      for (const message of batch) message.nak(delay);
      return;
    }
    for (const message of batch) message.ack();
    options.metrics?.stored({ received: batch.length, ...stored });
    // Once per type (a type left unhandled on purpose would otherwise log every event), and for
    // so many types at most: a type is whatever a message says.
    for (const { id, type } of stored.ignored) {
      if (ignoredTypesLogged.has(type) || ignoredTypesLogged.size >= MAX_NAMED_IGNORED_TYPES) {
        continue;
      }
      ignoredTypesLogged.add(type);
      log.info(
        { eventId: id, type },
        `events of this type are stored as ignored: ${reader} has no handler for it (counted by type in /metrics; bun run inbox:replay --all-ignored applies them once it has)`,
      );
    }
    for (const { id, subject, streamSequence, error } of stored.parked) {
      log.error(
        { inboxId: id, subject, streamSequence, err: error },
        "message parked: not a valid event (bun run inbox:status lists it)",
      );
    }
    onStored(stored);
  }

  const guard = startIntervalLoop({
    name: `${consumerName}-consumer`,
    intervalMs: options.checkIntervalMs ?? 10_000,
    log,
    run: check,
  });

  return {
    get isConsuming() {
      return messages !== undefined && nats.isConnected;
    },
    wake: guard.wake,
    async stop() {
      stopped = true;
      await guard.stop();
      messages?.stop();
      while (flushing.size > 0) await Promise.all(flushing);
    },
  };
}

/**
 * A delivered message as the inbox takes it. Its headers are decoded on first read, which only
 * a message that gets parked needs.
 */
function toReceived(message: JsMsg): ReceivedMessage {
  return {
    subject: message.subject,
    data: message.data,
    streamSequence: message.seq,
    get headers() {
      return readHeaders(message);
    },
  };
}

/**
 * The message's headers; or, when nats.js cannot decode them (it refuses a name with a space,
 * say, which the server lets through), why not, under `UNREADABLE_HEADERS`.
 */
function readHeaders(message: JsMsg): Record<string, string> {
  try {
    const record: Record<string, string> = {};
    for (const [key, values] of message.headers ?? []) record[key] = values.join(",");
    return record;
  } catch (error) {
    return { [UNREADABLE_HEADERS]: errorMessage(error) };
  }
}
