import type { ConsumerInfo, JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { millis } from "@nats-io/nats-core";
import { type NatsNames, streamInfo } from "../nats.ts";
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatFields,
  formatTable,
} from "../report-text.ts";
import { namesAnotherInbox } from "./durable-consumer.ts";
import type { InboxSpec } from "./spec.ts";

/** What the report reads of the inbox: its stream, its consumer, and both modules' names. */
type StreamsInbox = Pick<InboxSpec, "schema" | "stream" | "consumerName" | "reader" | "publisher">;

/** A position in the stream: consumer and stream sequence, and when. */
export type SequencePosition = {
  consumerSeq: number;
  streamSeq: number;
  lastActive: string | null;
};

/** Another consumer on the stream (another module's, or one made by hand), in brief. */
export type OtherConsumer = {
  name: string;
  description: string | null;
  pending: number;
  ackPending: number;
  delivered: SequencePosition;
  ackFloor: SequencePosition;
};

/**
 * The publisher's stream and the consumers on it, the inbox's durable consumer in full, as NATS
 * sees them (`nats stream info SALES`, `nats consumer info SALES orders`): for a module's
 * `bun run streams`.
 */
export type StreamsReport = {
  stream: {
    name: string;
    /** Who publishes to it (`published from sales.outbox_messages`), null without one. */
    description: string | null;
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
  /**
   * The description of the consumer of the inbox's name when another inbox made it (`stored in
   * shipping.inbox_messages`): the module is then not consuming, and `consumer` is null.
   */
  consumerTakenBy: string | null;
  /** The stream's other consumers, by name. */
  otherConsumers: OtherConsumer[];
  /**
   * The lowest ack floor (stream sequence) of all the stream's consumers, null without any: each
   * has acked every message of its own at or below it. A safe purge point only if every module
   * reading the stream has its consumer already (this inbox's is `consumer`, not null).
   */
  lowestAckFloor: number | null;
};

const ZERO_TIME = /^0001-01-01/;
const time = (value: string | undefined) => (value && !ZERO_TIME.test(value) ? value : null);
const position = (sequence: ConsumerInfo["delivered"]): SequencePosition => ({
  consumerSeq: sequence.consumer_seq,
  streamSeq: sequence.stream_seq,
  lastActive: time(sequence.last_active as unknown as string | undefined),
});

/**
 * The report from the stream's info and all its consumers': the inbox's is the one of its name,
 * unless its description names another inbox.
 */
export function toStreamsReport(
  info: StreamInfo,
  consumers: ConsumerInfo[],
  inbox: Pick<InboxSpec, "schema" | "consumerName">,
): StreamsReport {
  const { config, state } = info;
  const named = consumers.find((candidate) => candidate.name === inbox.consumerName);
  const owner = named?.config.description;
  const takenBy = namesAnotherInbox(owner, inbox) ? owner : null;
  const consumer = takenBy ? undefined : named;
  const floors = consumers.map((candidate) => candidate.ack_floor.stream_seq);
  return {
    stream: {
      name: config.name,
      description: config.description || null,
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
    consumerTakenBy: takenBy,
    otherConsumers: consumers
      .filter((other) => other !== consumer)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((other) => ({
        name: other.name,
        description: other.config.description || null,
        pending: other.num_pending,
        ackPending: other.num_ack_pending,
        delivered: position(other.delivered),
        ackFloor: position(other.ack_floor),
      })),
    lowestAckFloor: floors.length > 0 ? Math.min(...floors) : null,
  };
}

/**
 * The report on the inbox's stream (put in its namespace by `names`), its durable consumer and
 * the stream's other consumers; throws when the stream does not exist.
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
  const consumers: ConsumerInfo[] = [];
  for await (const consumer of jsm.consumers.list(name)) consumers.push(consumer);
  return toStreamsReport(info, consumers, inbox);
}

const at = (sequence: number, when: string | null) =>
  when ? `${formatCount(sequence)} @ ${when}` : formatCount(sequence);

/** The report as text for a terminal. */
export function streamsText(report: StreamsReport, inbox: StreamsInbox): string {
  const { stream, consumer } = report;
  const lines = [
    `Stream ${stream.name}`,
    ...formatFields([
      ["Description", stream.description ?? "(none)"],
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
  if (report.consumerTakenBy) {
    lines.push(
      `Consumer ${inbox.consumerName}: another inbox's ("${report.consumerTakenBy}"), so ${inbox.reader} is not consuming (its log says so); listed below`,
    );
  } else if (!consumer) {
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
  lines.push("", ...otherConsumersText(report), "", ...lowestAckFloorText(report, inbox));
  return `${lines.join("\n")}\n`;
}

function otherConsumersText({ otherConsumers }: StreamsReport): string[] {
  if (otherConsumers.length === 0) return ["Other consumers: none"];
  return [
    "Other consumers (ack floor and last delivered: stream seq)",
    ...formatTable(
      ["name", "pending", "ack pending", "ack floor", "last delivered", "description"],
      otherConsumers.map((other) => [
        other.name,
        formatCount(other.pending),
        formatCount(other.ackPending),
        String(other.ackFloor.streamSeq),
        String(other.delivered.streamSeq),
        other.description ?? "-",
      ]),
    ),
  ];
}

function lowestAckFloorText(
  { stream, consumer, consumerTakenBy, otherConsumers, lowestAckFloor: floor }: StreamsReport,
  inbox: StreamsInbox,
): string[] {
  const atFloor = [...(consumer ? [consumer] : []), ...otherConsumers]
    .filter((each) => each.ackFloor.streamSeq === floor)
    .map((each) => each.name);
  const lines = [
    floor === null
      ? "Lowest ack floor: none (no consumers)"
      : `Lowest ack floor: stream seq ${floor} (${atFloor.join(", ")})`,
  ];
  if (consumerTakenBy) {
    lines.push(
      `  NOT safe to purge: ${inbox.reader} is not consuming (consumer ${inbox.consumerName} is another inbox's), and has not read what came since.`,
    );
  } else if (!consumer || floor === null) {
    lines.push(
      `  NOT safe to purge: consumer ${inbox.consumerName} does not exist yet, and ${inbox.reader} has read none of the messages.`,
    );
  } else {
    // A purge by sequence keeps the message at that sequence.
    lines.push(
      `  Safe to purge up to stream seq ${floor} (\`nats stream purge ${stream.name} --seq ${floor + 1}\` keeps ${floor + 1} on):`,
      "  every consumer above has acked each of its messages at or below it. NOT safe if some",
      "  module's consumer does not exist yet: that module has read none of them.",
    );
  }
  return lines;
}
