import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";

export type StreamReadOptions = {
  /** The first stream sequence to read. */
  fromSeq: number;
  /** Called with each message in stream order; return false to stop. */
  onMessage: (message: JsMsg) => boolean | Promise<boolean>;
  /** Messages the server sends ahead. */
  batchSize?: number;
  /** Stops the read, which then rejects with the signal's reason (e.g. NATS went away meanwhile). */
  signal?: AbortSignal;
};

/**
 * Reads `stream` in order from `fromSeq` to its current end with an ephemeral ordered
 * consumer, deleting the consumer afterwards. No server-side subject filter: the ordered
 * consumer's `filter_subjects` option is left alone, as several subjects need nats-server 2.10.
 * Resolves with the number of messages read; 0 at once when the stream has none from there.
 */
export async function readStream(
  js: JetStreamClient,
  stream: string,
  { fromSeq, onMessage, batchSize = 500, signal }: StreamReadOptions,
): Promise<number> {
  signal?.throwIfAborted();
  const consumer = await js.consumers.get(stream, { opt_start_seq: Math.max(1, fromSeq) });
  let read = 0;
  try {
    // The server counts the messages left from the start sequence as it creates the consumer.
    // The stream's last_seq cannot tell: it stays put when the newest messages are deleted,
    // and a consume() with nothing to deliver would wait for a next message forever.
    if ((await consumer.info(true)).num_pending === 0) return 0;
    const messages = await consumer.consume({ max_messages: batchSize });
    const stop = () => messages.stop();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const message of messages) {
        signal?.throwIfAborted();
        read++;
        const more = await onMessage(message);
        if (!more || message.info.pending === 0) break;
      }
      signal?.throwIfAborted();
    } finally {
      signal?.removeEventListener("abort", stop);
      messages.stop();
    }
  } finally {
    // An ordered consumer expires by itself; after an abort (NATS may be gone) do not wait on it.
    const deleted = consumer.delete().catch(() => false);
    if (!signal?.aborted) await deleted;
  }
  return read;
}
