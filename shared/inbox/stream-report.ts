import {
  type ConsumerInfo,
  JetStreamApiCodes,
  type JetStreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";
import { millis } from "@nats-io/nats-core";
import { isJetStreamApiError, type NatsNames, streamInfo } from "../nats.ts";
import { formatBytes, formatCount, formatDuration, formatFields } from "../report-text.ts";
import type { InboxSpec } from "./spec.ts";

/** What the report reads of the inbox: its stream, its consumer, and both modules' names. */
type StreamsInbox = Pick<InboxSpec, "stream" | "consumerName" | "reader" | "publisher">;

/** A position in the stream: consumer and stream sequence, and when. */
export type SequencePosition = {
  consumerSeq: number;
  streamSeq: number;
  lastActive: string | null;
};

/**
 * The publisher's stream and the inbox's durable consumer on it, as NATS sees them (`nats stream
 * info SALES`, `nats consumer info SALES orders`): for a module's `bun run streams`.
 */
export type StreamsReport = {
  stream: {
    name: string;
    subjects: string[];
    retention: string;
    storage: string;
    maxAgeMs: number;
    duplicateWindowMs: number;
    messages: number;
    bytes: number;
    firstSeq: number;
    firstTime: string | null;
    lastSeq: number;
    lastTime: string | null;
    deleted: number;
    consumers: number;
  };
  /** Null when the consumer does not exist (its module never ran in this namespace). */
  consumer: {
    name: string;
    /** Messages not yet delivered to the consumer ("unprocessed"). */
    pending: number;
    /** Delivered, not yet acked (being stored in the inbox). */
    ackPending: number;
    redelivered: number;
    waiting: number;
    delivered: SequencePosition;
    ackFloor: SequencePosition;
    ackWaitMs: number;
    maxAckPending: number;
    filterSubject: string | null;
  } | null;
};

const ZERO_TIME = /^0001-01-01/;
const time = (value: string | undefined) => (value && !ZERO_TIME.test(value) ? value : null);
const position = (sequence: ConsumerInfo["delivered"]): SequencePosition => ({
  consumerSeq: sequence.consumer_seq,
  streamSeq: sequence.stream_seq,
  lastActive: time(sequence.last_active as unknown as string | undefined),
});

export function toStreamsReport(
  info: StreamInfo,
  consumer: ConsumerInfo | undefined,
): StreamsReport {
  const { config, state } = info;
  return {
    stream: {
      name: config.name,
      subjects: config.subjects ?? [],
      retention: config.retention,
      storage: config.storage,
      maxAgeMs: millis(config.max_age),
      duplicateWindowMs: millis(config.duplicate_window),
      messages: state.messages,
      bytes: state.bytes,
      firstSeq: state.first_seq,
      firstTime: time(state.first_ts),
      lastSeq: state.last_seq,
      lastTime: time(state.last_ts),
      deleted: state.num_deleted ?? 0,
      consumers: state.consumer_count,
    },
    consumer: consumer
      ? {
          name: consumer.name,
          pending: consumer.num_pending,
          ackPending: consumer.num_ack_pending,
          redelivered: consumer.num_redelivered,
          waiting: consumer.num_waiting,
          delivered: position(consumer.delivered),
          ackFloor: position(consumer.ack_floor),
          ackWaitMs: millis(consumer.config.ack_wait ?? 0),
          maxAckPending: consumer.config.max_ack_pending ?? -1,
          filterSubject: consumer.config.filter_subject ?? null,
        }
      : null,
  };
}

/**
 * The report on the inbox's stream (put in its namespace by `names`) and its durable consumer;
 * throws when the stream does not exist.
 */
export async function readStreamsReport(
  jsm: JetStreamManager,
  inbox: StreamsInbox,
  names: NatsNames,
): Promise<StreamsReport> {
  const name = names.stream(inbox.stream);
  const info = await streamInfo(jsm, name);
  if (!info)
    throw new Error(`stream ${name} does not exist (has ${inbox.publisher.name} started?)`);
  const consumer = await jsm.consumers.info(name, inbox.consumerName).catch((error) => {
    if (isJetStreamApiError(error, JetStreamApiCodes.ConsumerNotFound)) return undefined;
    throw error;
  });
  return toStreamsReport(info, consumer);
}

const at = (sequence: number, when: string | null) =>
  when ? `${formatCount(sequence)} @ ${when}` : formatCount(sequence);

/** The report as text for a terminal. */
export function streamsText({ stream, consumer }: StreamsReport, inbox: StreamsInbox): string {
  const lines = [
    `Stream ${stream.name}`,
    ...formatFields([
      ["Subjects", stream.subjects.join(", ")],
      ["Retention", `${stream.retention}, ${stream.storage} storage`],
      // JetStream's 0 is no limit.
      ["Max age", stream.maxAgeMs > 0 ? formatDuration(stream.maxAgeMs) : "unlimited"],
      ["Duplicate window", formatDuration(stream.duplicateWindowMs)],
      ["Messages", formatCount(stream.messages)],
      ["Bytes", formatBytes(stream.bytes)],
      ["First sequence", at(stream.firstSeq, stream.firstTime)],
      ["Last sequence", at(stream.lastSeq, stream.lastTime)],
      ["Deleted", formatCount(stream.deleted)],
      ["Consumers", formatCount(stream.consumers)],
    ]),
    "",
  ];
  if (!consumer) {
    lines.push(`Consumer ${inbox.consumerName}: does not exist (has ${inbox.reader} started?)`);
  } else {
    lines.push(
      `Consumer ${consumer.name}`,
      ...formatFields([
        ["Pending (unprocessed)", formatCount(consumer.pending)],
        ["Ack pending", formatCount(consumer.ackPending)],
        ["Redelivered", formatCount(consumer.redelivered)],
        ["Waiting pulls", formatCount(consumer.waiting)],
        [
          "Last delivered",
          `consumer seq ${consumer.delivered.consumerSeq}, stream seq ${consumer.delivered.streamSeq}`,
        ],
        [
          "Ack floor",
          `consumer seq ${consumer.ackFloor.consumerSeq}, stream seq ${consumer.ackFloor.streamSeq}`,
        ],
        ["Ack wait", formatDuration(consumer.ackWaitMs)],
        ["Max ack pending", formatCount(consumer.maxAckPending)],
        ["Filter subject", consumer.filterSubject ?? "(none)"],
      ]),
    );
  }
  return `${lines.join("\n")}\n`;
}
