import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos, RequestError } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { redactUrls } from "./env.ts";
import { errorMessage } from "./errors.ts";
import type { Logger } from "./logger.ts";

/**
 * A NATS connection that is being established in the background: a process starts (and takes
 * writes) while NATS is down, and picks the connection up when the server answers. After the
 * first connect the client reconnects by itself, forever.
 */
export type NatsLink = {
  /** The connection once the server answered at least once. */
  readonly connection: NatsConnection | undefined;
  /** True while the connection is up (false before the first connect and while reconnecting). */
  readonly isConnected: boolean;
  /** Counts connects and reconnects: state checked on the server is stale once this moves. */
  readonly generation: number;
  /** Resolves with the connection the first time the server answers. */
  readonly connected: Promise<NatsConnection>;
  /** Drains the connection (flushing pending acks and publishes), or stops trying to connect. */
  close(): Promise<void>;
};

/** A connection that missed this many pings in a row is dead; the client then reconnects. */
const MAX_PINGS_OUT = 2;

/**
 * Options every connection here shares. By default nats.js builds two `Error`s per request (a
 * JetStream publish is one) to keep the caller's stack for a timeout: a quarter of a publish's
 * CPU (measured). Errors are logged by their message, which stays the same.
 */
const CONNECTION_DEFAULTS = { noAsyncTraces: true } as const;

export type NatsLinkOptions = {
  url: string;
  name: string;
  log: Logger;
  /** Runs after the first connect and after every reconnect (e.g. to wake a loop). */
  onConnect?: (connection: NatsConnection) => void;
  retryMs?: number;
  /** The default ping every 2 minutes would leave a dead connection looking up for minutes. */
  pingIntervalMs?: number;
  /** How long `close()` lets the drain take before it closes the connection. */
  drainTimeLimitMs?: number;
};

export function startNatsLink({
  url,
  name,
  log,
  onConnect,
  retryMs = 1000,
  pingIntervalMs = 10_000,
  drainTimeLimitMs = 5_000,
}: NatsLinkOptions): NatsLink {
  let connection: NatsConnection | undefined;
  let isConnected = false;
  let generation = 0;
  let closing = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let settleConnected: (connection: NatsConnection) => void = () => {};
  const connected = new Promise<NatsConnection>((resolve) => (settleConnected = resolve));

  async function attempt(failures: number): Promise<void> {
    if (closing) return;
    try {
      const nc = await connect({
        ...CONNECTION_DEFAULTS,
        servers: url.split(",").map((server) => server.trim()),
        name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: retryMs,
        pingInterval: pingIntervalMs,
        maxPingOut: MAX_PINGS_OUT,
      });
      if (closing) return void (await nc.close());
      connection = nc;
      isConnected = true;
      generation++;
      log.info({ server: nc.getServer() }, "nats connected");
      watchStatus(nc);
      void nc.closed().then((error) => connectAfresh(nc, error || undefined));
      settleConnected(nc);
      notifyConnected(nc);
    } catch (error) {
      if (failures === 0)
        log.warn({ err: errorMessage(error), url: redactUrls(url) }, "nats unreachable, retrying");
      retryTimer = setTimeout(() => void attempt(failures + 1), retryMs);
    }
  }

  function notifyConnected(nc: NatsConnection) {
    try {
      onConnect?.(nc);
    } catch (error) {
      log.error({ err: errorMessage(error) }, "nats onConnect failed");
    }
  }

  /**
   * The client reconnects by itself, forever; it closes a connection for good only on what it
   * deems fatal (e.g. the credentials refused twice in a row). Then a new connection is made.
   */
  function connectAfresh(nc: NatsConnection, error: Error | undefined) {
    if (closing || connection !== nc) return;
    isConnected = false;
    log.error(
      { err: error ? errorMessage(error) : "closed" },
      "nats connection closed, connecting afresh",
    );
    retryTimer = setTimeout(() => void attempt(0), retryMs);
  }

  async function watchStatus(nc: NatsConnection) {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        isConnected = false;
        log.warn({ server: status.server }, "nats disconnected");
      } else if (status.type === "reconnect") {
        isConnected = true;
        generation++;
        log.info({ server: status.server }, "nats reconnected");
        notifyConnected(nc);
      }
    }
  }

  void attempt(0);

  return {
    get connection() {
      return connection;
    },
    get isConnected() {
      return isConnected && connection !== undefined && !connection.isClosed();
    },
    get generation() {
      return generation;
    },
    connected,
    async close() {
      closing = true;
      clearTimeout(retryTimer);
      if (connection && !connection.isClosed()) {
        // drain() waits for the server; when it is unreachable, closing is all we can do.
        if (isConnected) await drainWithin(connection, drainTimeLimitMs);
        else await connection.close();
      }
    },
  };
}

/** Drains `nc`, or closes it when the drain fails or takes longer than `limitMs`. */
async function drainWithin(nc: NatsConnection, limitMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drained = nc.drain().then(
    () => true,
    () => false,
  );
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)));
  const inTime = await Promise.race([drained, late]);
  clearTimeout(timer);
  if (!inTime && !nc.isClosed()) await nc.close();
}

/** How long a tool waits for a server that accepts the connection but does not answer. */
export const TOOL_CONNECT_TIMEOUT_MS = 5_000;

/**
 * A plain connection for tools and tests: it fails at once when nothing listens, and after
 * `TOOL_CONNECT_TIMEOUT_MS` when the server does not answer (nats.js waits 20 s by default).
 */
export async function connectNats(
  url: string,
  name = "tool",
  { timeoutMs = TOOL_CONNECT_TIMEOUT_MS } = {},
): Promise<NatsConnection> {
  try {
    return await connect({
      ...CONNECTION_DEFAULTS,
      servers: url.split(",").map((server) => server.trim()),
      name,
      timeout: timeoutMs,
    });
  } catch (error) {
    const message = errorMessage(error);
    const reason = message === "timeout" ? `no answer within ${timeoutMs} ms` : message;
    throw new Error(`cannot connect to NATS at ${redactUrls(url)}: ${reason}`, { cause: error });
  }
}

export type StreamSpec = {
  name: string;
  subjects: string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  /**
   * Who publishes to it (`sales.outbox_messages`), kept in the stream's description as
   * `published from <publisher>`: a stream whose description names another publisher that way is
   * left alone (`StreamOfAnotherError`); any other description (none, an operator's note) is
   * replaced.
   */
  publisher?: string;
};

const PUBLISHED_FROM = "published from ";

/** The stream of that name describes another publisher: it is not changed, nor published to. */
export class StreamOfAnotherError extends Error {}

export type EnsureStreamResult = { outcome: "created" | "updated" | "unchanged"; info: StreamInfo };

/**
 * Makes the stream match `spec`: creates it, updates it when a setting differs, or leaves it
 * alone. Limits retention, file storage. Uses only what nats-server 2.9 understands.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  spec: StreamSpec,
): Promise<EnsureStreamResult> {
  const wanted = {
    subjects: [...spec.subjects].sort(),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(spec.maxAgeMs),
    duplicate_window: nanos(spec.duplicateWindowMs),
    ...(spec.publisher !== undefined && { description: `${PUBLISHED_FROM}${spec.publisher}` }),
  } satisfies Partial<StreamConfig>;

  const current = await streamInfo(jsm, spec.name);
  if (!current) {
    return { outcome: "created", info: await jsm.streams.add({ name: spec.name, ...wanted }) };
  }
  const config = current.config;
  if (
    wanted.description !== undefined &&
    config.description?.startsWith(PUBLISHED_FROM) &&
    config.description !== wanted.description
  ) {
    throw new StreamOfAnotherError(
      `stream ${spec.name} is another publisher's (its description: "${config.description}"): two outboxes publishing to one stream would each take the other's messages for ones the stream lost, and send theirs again. Nothing is published; give this outbox a stream of its own`,
    );
  }
  if (config.storage !== wanted.storage) {
    throw new Error(
      `Stream ${spec.name} uses ${config.storage} storage, not ${wanted.storage}; storage cannot be changed in place`,
    );
  }
  const same =
    config.retention === wanted.retention &&
    config.max_age === wanted.max_age &&
    config.duplicate_window === wanted.duplicate_window &&
    (wanted.description === undefined || config.description === wanted.description) &&
    [...config.subjects].sort().join(" ") === wanted.subjects.join(" ");
  if (same) return { outcome: "unchanged", info: current };
  const { storage: _storage, ...changeable } = wanted;
  return {
    outcome: "updated",
    info: await jsm.streams.update(spec.name, { ...config, ...changeable }),
  };
}

/** The stream's info, or undefined when it does not exist. */
export async function streamInfo(
  jsm: JetStreamManager,
  name: string,
): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (error) {
    if (isJetStreamApiError(error, JetStreamApiCodes.StreamNotFound)) return undefined;
    throw error;
  }
}

export function isJetStreamApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** Whether `subject` is one that `filter` (with `*` and `>` wildcards) takes. */
export function subjectMatches(filter: string, subject: string): boolean {
  const wanted = filter.split(".");
  const tokens = subject.split(".");
  for (const [i, token] of wanted.entries()) {
    if (token === ">") return tokens.length > i;
    if (i >= tokens.length || (token !== "*" && token !== tokens[i])) return false;
  }
  return tokens.length === wanted.length;
}

/**
 * A JetStream publish nothing answered: no stream takes its subject (deleted, say), or
 * JetStream is not available. nats.js calls it "jetstream is not enabled" either way.
 */
export function isUnansweredPublish(error: unknown): boolean {
  return (
    error instanceof Error && error.cause instanceof RequestError && error.cause.isNoResponders()
  );
}

/**
 * Stream and subject names inside a namespace. The empty namespace gives the names as they
 * are (`SALES`, `sales.product.created.v1`); `t1` gives `t1_SALES` and `t1.sales.product…`,
 * so test runs and extra environments can share a server without their subjects overlapping.
 */
export function natsNames(namespace: string) {
  return {
    stream: (name: string) => (namespace ? `${namespace}_${name}` : name),
    subject: (subject: string) => (namespace ? `${namespace}.${subject}` : subject),
  };
}
export type NatsNames = ReturnType<typeof natsNames>;

/**
 * What the stream holds at `sequence`: the message published with `msgId` (its `Nats-Msg-Id`),
 * no message, or another one.
 */
export async function messageAt(
  jsm: JetStreamManager,
  stream: string,
  sequence: number,
  msgId: string,
): Promise<"held" | "none" | "other"> {
  const message = await jsm.streams.getMessage(stream, { seq: sequence });
  if (!message) return "none";
  return message.header?.get("Nats-Msg-Id") === msgId ? "held" : "other";
}
