import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { retryDelayMs } from "../backoff.ts";
import type { Sql } from "../database.ts";
import { errorMessage } from "../errors.ts";
import { startIntervalLoop } from "../interval-loop.ts";
import type { Logger } from "../logger.ts";
import { isJetStreamApiError, type NatsLink, type NatsNames } from "../nats.ts";
import {
  contentId,
  MAX_NAMED_IGNORED_TYPES,
  type ReceivedMessage,
  type StoredBatch,
  storeReceivedMessages,
  toInboxRow,
} from "./inbox.ts";
import { type InboxSpec, inboxTable } from "./spec.ts";

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
  const { consumerName, reader, publisher } = inbox;
  const stream = names.stream(inbox.stream);
  const description = consumerDescription(inbox);
  const wanted: Partial<ConsumerConfig> = {
    durable_name: consumerName,
    description,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(options.ackWaitMs),
    // Unlimited on purpose: a message is acked once stored, and every message can be stored
    // (unreadable ones are parked). A cap would drop events during a long database outage.
    max_deliver: -1,
    max_ack_pending: options.maxAckPending,
    filter_subject: names.subject(inbox.subjects),
    deliver_policy: DeliverPolicy.All,
  };

  let manager: { connection: NatsConnection; jsm: JetStreamManager } | undefined;
  let messages: ConsumerMessages | undefined;
  let waitingForStreamLogged = false;
  /** The description of another inbox's consumer of this name, once said. */
  let ownerLogged: string | undefined;
  /** When the consumer `messages` pulls from was created: another one has the same name. */
  let consumingCreated: string | undefined;
  const buffer: JsMsg[] = [];
  const flushing = new Set<Promise<void>>();
  const ignoredTypesLogged = new Set<string | null>();
  let stopped = false;

  /**
   * Ensures the consumer; says what it did, when the consumer in place was created and, when it
   * was there already, how far it had been delivered.
   */
  async function ensureConsumer(jsm: JetStreamManager): Promise<
    | {
        outcome: "created" | "recreated" | "replaced" | "updated" | "unchanged";
        created: string;
        delivered?: number;
      }
    | { outcome: "another inbox's"; owner: string }
  > {
    try {
      const info = await jsm.consumers.info(stream, consumerName);
      // Another module's, given the same name: left alone, since sharing it would split the
      // messages between the two inboxes. One without a description predates them: taken over.
      const owner = info.config.description;
      if (owner && owner !== description) return { outcome: "another inbox's", owner };
      if (await isAheadOfStream(jsm, info)) {
        await deleteConsumer(jsm);
        const added = await jsm.consumers.add(stream, wanted);
        return { outcome: "recreated", created: added.created };
      }
      const { config } = info;
      // Made by something else (an operator's `nats consumer add`): these cannot be updated, and
      // the module would lose messages on them (acks covering unstored ones, history skipped).
      // Nor the filter: nats-server 2.9 takes the update, then delivers nothing.
      if (
        config.ack_policy !== wanted.ack_policy ||
        config.deliver_policy !== wanted.deliver_policy ||
        config.deliver_subject ||
        config.filter_subject !== wanted.filter_subject
      ) {
        await deleteConsumer(jsm);
        const added = await jsm.consumers.add(stream, wanted);
        return { outcome: "replaced", created: added.created };
      }
      const same =
        config.description === description &&
        config.ack_wait === wanted.ack_wait &&
        config.max_deliver === wanted.max_deliver &&
        config.max_ack_pending === wanted.max_ack_pending;
      const delivered = info.delivered.stream_seq;
      if (same) return { outcome: "unchanged", created: info.created, delivered };
      const { ack_wait, max_deliver, max_ack_pending } = wanted;
      await jsm.consumers.update(stream, consumerName, {
        description,
        ack_wait,
        max_deliver,
        max_ack_pending,
      });
      return { outcome: "updated", created: info.created, delivered };
    } catch (error) {
      if (!isJetStreamApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
      const added = await jsm.consumers.add(stream, wanted);
      return { outcome: "created", created: added.created };
    }
  }

  /**
   * Deletes the consumer. A nats-server without nats-io/nats-server#7886 (2.9.10, say) may
   * answer a delete with an error (its state file written meanwhile: "directory not empty")
   * although the consumer is gone: gone is what counts.
   */
  async function deleteConsumer(jsm: JetStreamManager) {
    try {
      await jsm.consumers.delete(stream, consumerName);
    } catch (error) {
      const gone = await jsm.consumers.info(stream, consumerName).then(
        () => false,
        (infoError: unknown) => isJetStreamApiError(infoError, JetStreamApiCodes.ConsumerNotFound),
      );
      if (!gone) throw error;
      log.warn(
        { stream, consumer: consumerName, err: errorMessage(error) },
        "the server answered the consumer's delete with an error, but deleted it",
      );
    }
  }

  /**
   * Whether the stream lost messages this consumer had acked, and reuses their sequence numbers
   * for new ones (a broker restored from an older disk, say): the server would never deliver
   * those to a consumer already past them. Every acked message was stored first, so the stream
   * must still end at or after the ack floor, with a message there the inbox received at that
   * sequence. The same event at another sequence is no proof: the publisher puts lost events
   * back, after any new ones that reached the stream first. (A message deleted below the
   * stream's end tells nothing: numbers below the end are never reused.)
   */
  async function isAheadOfStream(jsm: JetStreamManager, info: ConsumerInfo): Promise<boolean> {
    const acked = info.ack_floor.stream_seq;
    if (acked === 0) return false;
    const { state } = await jsm.streams.info(stream);
    if (state.last_seq < acked) return true;
    const message = await jsm.streams.getMessage(stream, { seq: acked });
    if (!message) return false;
    // Stored under its event id, or parked under the hash of its bytes. Neither id depends on
    // the headers, left undecoded: a malformed one must not keep the consumer from starting.
    const received = { subject: message.subject, data: message.data, streamSequence: message.seq };
    const ids = [toInboxRow(inbox, { ...received, headers: {} }, handles).id, contentId(received)];
    const [stored] = await sql`
      select 1 from ${inboxTable(sql, inbox)}
      where id = any(${ids}::uuid[]) and ${acked}::bigint in (stream_sequence, last_stream_sequence)`;
    return stored === undefined;
  }

  /** The last stream sequence already reported as removed unread, in the stream created then. */
  let reported = { streamCreated: "", upTo: 0 };

  /**
   * Messages the stream removed from its head before this consumer was delivered them (a
   * `max_msgs`, `max_bytes` or `max_age` limit reached while the module was down or behind):
   * their events never reach it, and the publisher (Sales), which takes removals from the head
   * as deliberate, does not send them again by itself. Says so as an error, with the way back.
   * Only what the consumer's position shows: a server moves a consumer with a pull waiting past
   * removed messages at once, so removals while the module runs, and messages delivered but not
   * stored yet when removed, do not show.
   */
  async function reportRemovedUnread(jsm: JetStreamManager, delivered: number) {
    const { created, state } = await jsm.streams.info(stream);
    if (created !== reported.streamCreated) reported = { streamCreated: created, upTo: 0 };
    const from = Math.max(delivered, reported.upTo) + 1;
    const to = state.first_seq - 1;
    if (from > to) return;
    log.error(
      { stream, consumer: consumerName, fromSequence: from, toSequence: to, count: to - from + 1 },
      `the stream removed messages before ${reader} read them (a limit on the stream, or its max age): their events are lost to ${reader} until ${publisher.name} sends them again; on ${publisher.name} run: bun run ${publisher.republishScript} --sequences ${from}-${to}`,
    );
    options.metrics?.removedUnread(to - from + 1);
    reported.upTo = to;
  }

  /** Ensures the consumer and consumes from it; returns a short retry delay when it could not. */
  async function check(): Promise<number | undefined> {
    const connection = nats.connection;
    if (stopped || !connection || !nats.isConnected) return;
    try {
      if (manager?.connection !== connection) {
        manager = { connection, jsm: await jetstreamManager(connection) };
      }
      const ensured = await ensureConsumer(manager.jsm);
      waitingForStreamLogged = false;
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
      if (delivered !== undefined) await reportRemovedUnread(manager.jsm, delivered);
      if (outcome === "recreated") {
        log.warn(
          { stream, consumer: consumerName },
          "the stream lost messages this consumer had acked; reading the stream again from its start (the inbox drops what it has)",
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
        if (!waitingForStreamLogged) log.info({ stream }, "waiting for the stream to exist");
        waitingForStreamLogged = true;
      } else {
        log.error({ stream, consumer: consumerName, err: errorMessage(error) }, "cannot consume");
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
 * What a module's durable consumer says it is, in its description (`nats consumer info`): the
 * inbox it stores into. A consumer of the name with another description is another module's.
 */
export function consumerDescription({ schema }: Pick<InboxSpec, "schema">): string {
  return `stored in ${schema}.inbox_messages`;
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
