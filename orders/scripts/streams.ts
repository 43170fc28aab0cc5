import {
  type ConsumerInfo,
  JetStreamApiCodes,
  type JetStreamManager,
  jetstreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";
import { millis } from "@nats-io/nats-core";
import {
  connectNats,
  formatBytes,
  formatCount,
  formatDuration,
  formatFields,
  isJetStreamApiError,
  natsNames,
  runScript,
  type ScriptSpec,
  streamInfo,
} from "shared";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";
import { ORDERS_INBOX } from "../infrastructure/orders-inbox.ts";

export const spec = {
  command: "bun run streams",
  summary: "Stream SALES and Orders' durable consumer `orders` on it, as NATS sees them.",
  options: {},
  optionHelp: [],
  schema: v.object({}),
  notes: [
    "Like `nats stream info SALES` and `nats consumer info SALES orders`.",
    "Reads NATS_URL and NATS_NAMESPACE like the Orders process.",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

/** A position in the stream: consumer and stream sequence, and when. */
export type SequencePosition = {
  consumerSeq: number;
  streamSeq: number;
  lastActive: string | null;
};

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
  /** Null when the consumer does not exist (Orders never ran in this namespace). */
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

/** The report for the stream of `namespace`; throws when the stream does not exist. */
export async function readStreamsReport(
  jsm: JetStreamManager,
  namespace: string,
): Promise<StreamsReport> {
  const name = natsNames(namespace).stream(ORDERS_INBOX.stream);
  const info = await streamInfo(jsm, name);
  if (!info) throw new Error(`stream ${name} does not exist (has Sales started?)`);
  const consumer = await jsm.consumers.info(name, ORDERS_INBOX.consumerName).catch((error) => {
    if (isJetStreamApiError(error, JetStreamApiCodes.ConsumerNotFound)) return undefined;
    throw error;
  });
  return toStreamsReport(info, consumer);
}

const at = (sequence: number, when: string | null) =>
  when ? `${formatCount(sequence)} @ ${when}` : formatCount(sequence);

/** The report as text for a terminal. */
export function streamsText({ stream, consumer }: StreamsReport): string {
  const lines = [
    `Stream ${stream.name}`,
    ...formatFields([
      ["Subjects", stream.subjects.join(", ")],
      ["Retention", `${stream.retention}, ${stream.storage} storage`],
      ["Max age", formatDuration(stream.maxAgeMs)],
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
    lines.push(`Consumer ${ORDERS_INBOX.consumerName}: does not exist (has Orders started?)`);
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

if (import.meta.main) {
  await runScript(spec, async ({ json }) => {
    const env = readOrdersEnv();
    const nc = await connectNats(env.NATS_URL, "streams");
    try {
      const report = await readStreamsReport(await jetstreamManager(nc), env.NATS_NAMESPACE);
      process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : streamsText(report));
      return 0;
    } finally {
      await nc.close();
    }
  });
}
