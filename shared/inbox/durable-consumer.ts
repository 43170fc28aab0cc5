import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiCodes,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { Sql } from "../database.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { isJetStreamApiError } from "../nats.ts";
import { contentId, toInboxRow } from "./inbox.ts";
import { type InboxSpec, inboxTable } from "./spec.ts";

const STORED_IN = "stored in ";

/**
 * What a module's durable consumer says it is, in its description (`nats consumer info`): the
 * inbox it stores into.
 */
export function consumerDescription({ schema }: Pick<InboxSpec, "schema">): string {
  return `${STORED_IN}${schema}.inbox_messages`;
}

/**
 * Whether a consumer's description names another inbox than this one; any other description
 * (none: made before consumers named their inbox; an operator's note) is this inbox's to take.
 */
export function namesAnotherInbox(
  description: string | undefined,
  inbox: Pick<InboxSpec, "schema">,
): description is string {
  return !!description?.startsWith(STORED_IN) && description !== consumerDescription(inbox);
}

/** What `ensure` did with the durable consumer. */
export type Ensured =
  | {
      outcome: "created" | "recreated" | "replaced" | "updated" | "unchanged";
      /** When the consumer in place was created: another one of the name is another consumer. */
      created: string;
      /** How far the consumer was delivered, when it was there already. */
      delivered?: number;
    }
  /** The consumer of that name is another inbox's (its description, `owner`, says so). */
  | { outcome: "another inbox's"; owner: string };

export type DurableConsumerOptions = {
  sql: Sql;
  inbox: Pick<InboxSpec, "schema" | "parse" | "consumerName" | "reader" | "publisher">;
  /** The stream, in its namespace. */
  stream: string;
  filterSubject: string;
  ackWaitMs: number;
  maxAckPending: number;
  handles: (type: string) => boolean;
  log: Logger;
  metrics?: { removedUnread(count: number): void };
};

/**
 * Keeps the inbox's durable consumer on the stream as the inbox needs it (explicit acks, every
 * message from the start, the publisher's subjects): makes it, updates it, replaces one it cannot
 * use or one that acked what the stream or the inbox no longer holds, and leaves another inbox's
 * of the same name alone. Also says which messages the stream removed before the consumer read
 * them.
 */
export function keepDurableConsumer({
  sql,
  inbox,
  stream,
  filterSubject,
  ackWaitMs,
  maxAckPending,
  handles,
  log,
  metrics,
}: DurableConsumerOptions) {
  const { consumerName, reader, publisher } = inbox;
  const description = consumerDescription(inbox);
  const wanted: Partial<ConsumerConfig> = {
    durable_name: consumerName,
    description,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ackWaitMs),
    // Unlimited on purpose: a message is acked once stored, and every message can be stored
    // (unreadable ones are parked). A cap would drop events during a long database outage.
    max_deliver: -1,
    max_ack_pending: maxAckPending,
    filter_subject: filterSubject,
    deliver_policy: DeliverPolicy.All,
  };

  /**
   * Ensures the consumer; says what it did, when the consumer in place was created and, when it
   * was there already, how far it had been delivered.
   */
  async function ensure(jsm: JetStreamManager): Promise<Ensured> {
    try {
      const info = await jsm.consumers.info(stream, consumerName);
      // Another module's, given the same name: left alone, since sharing it would split the
      // messages between the two inboxes.
      const owner = info.config.description;
      if (namesAnotherInbox(owner, inbox)) return { outcome: "another inbox's", owner };
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
    metrics?.removedUnread(to - from + 1);
    reported.upTo = to;
  }
  return { ensure, reportRemovedUnread };
}
