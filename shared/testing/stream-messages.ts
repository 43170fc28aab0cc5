import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { streamInfo } from "../nats.ts";

export type StoredMessage = {
  sequence: number;
  subject: string;
  headers: Record<string, string>;
  body: string;
};

/** Every message `stream` holds, in order; empty when the stream does not exist. */
export async function readStreamMessages(url: string, stream: string): Promise<StoredMessage[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await streamInfo(jsm, stream);
    if (!info || info.state.messages === 0) return [];
    const messages: StoredMessage[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const message = await jsm.streams.getMessage(stream, { seq });
      if (!message) continue;
      const headers: Record<string, string> = {};
      for (const [key, values] of message.header ?? []) headers[key] = values.join(",");
      messages.push({ sequence: seq, subject: message.subject, headers, body: message.string() });
    }
    return messages;
  } finally {
    await nc.close();
  }
}

/** Deletes the streams a test run created in its namespace. */
export async function deleteStreams(url: string, names: string[]): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of names) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}
