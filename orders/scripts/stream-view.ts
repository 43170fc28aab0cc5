import { JetStreamApiCodes, type JetStreamClient, type JsMsg, jetstream } from "@nats-io/jetstream";
import { SALES_STREAM } from "contracts";
import {
  connectNats,
  countOption,
  isJetStreamApiError,
  natsNames,
  optionalCountOption,
  runScript,
  type ScriptSpec,
  subjectMatches,
  UsageError,
} from "shared";
import { readStream } from "shared/inbox";
import * as v from "valibot";
import { readOrdersEnv } from "../env.ts";

const SubjectFilter = v.pipe(
  v.string(),
  // Tokens are names or `*`, the last may be `>`: `sales.product.*.v1`, `*.product.>`, `>`.
  v.regex(/^(([^\s.>*]+|\*)(\.([^\s.>*]+|\*))*(\.>)?|>)$/, "must be a subject, * and > allowed"),
);

export const spec = {
  command: "bun run stream:view",
  summary: "The messages of stream SALES: sequence, subject, time, headers and pretty body.",
  options: {
    subject: { type: "string" },
    last: { type: "string" },
    from: { type: "string" },
    limit: { type: "string" },
  },
  optionHelp: [
    "--subject <filter>  only these subjects, e.g. sales.product.updated.v1 or sales.product.*.v1",
    "--last <n>          the last n messages (after the subject filter)",
    "--from <seq>        start at this stream sequence",
    "--limit <n>         show at most n messages from the start or --from (default 25)",
  ],
  schema: v.pipe(
    v.object({
      subject: v.optional(SubjectFilter),
      last: optionalCountOption({ min: 1, max: 100_000 }),
      from: optionalCountOption({ min: 1 }),
      limit: countOption(25, { min: 1, max: 100_000 }),
    }),
    v.check((o) => o.last === undefined || o.from === undefined, "use --last or --from, not both"),
  ),
  notes: [
    "Like `nats stream view SALES` (e.g. `nats stream view SALES --subject sales.product.updated.v1`).",
    "Subjects are given without NATS_NAMESPACE; reads NATS_URL and NATS_NAMESPACE like Orders.",
  ],
} satisfies ScriptSpec<v.GenericSchema>;

export type ViewOptions = {
  /** A subject filter as the contracts name it (the namespace is added). */
  subject?: string | undefined;
  last?: number | undefined;
  from?: number | undefined;
  limit: number;
};

export type ViewedMessage = {
  sequence: number;
  subject: string;
  time: string;
  headers: Record<string, string>;
  /** The body, parsed when it is JSON, else as text. */
  body: unknown;
};

/** The messages `options` select, oldest first. */
export async function viewStream(
  js: JetStreamClient,
  namespace: string,
  options: ViewOptions,
): Promise<ViewedMessage[]> {
  if (options.last !== undefined && options.from !== undefined)
    throw new UsageError("use --last or --from, not both");
  const names = natsNames(namespace);
  const stream = names.stream(SALES_STREAM);
  const filter = options.subject ? names.subject(options.subject) : undefined;
  const { state } = await js.streams
    .get(stream)
    .then((found) => found.info())
    .catch((error: unknown) => {
      if (!isJetStreamApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
      throw new Error(`stream ${stream} not found`, { cause: error });
    });

  const selected: ViewedMessage[] = [];
  const wanted = options.last ?? options.limit;
  let fromSeq = options.from ?? state.first_seq;
  // Without a filter the last n messages lie within the last n + deleted sequences (the last
  // ones may be deleted: last_seq stays put); read those and keep the last n, as with a filter.
  if (options.last !== undefined && !filter)
    fromSeq = Math.max(state.first_seq, state.last_seq - wanted - (state.num_deleted ?? 0) + 1);
  await readStream(js, stream, {
    fromSeq,
    batchSize: Math.min(wanted, 500),
    onMessage: (message) => {
      if (filter && !subjectMatches(filter, message.subject)) return true;
      selected.push(toViewed(message));
      if (options.last !== undefined) {
        if (selected.length > wanted) selected.shift();
        return true;
      }
      return selected.length < wanted;
    },
  });
  return selected;
}

function toViewed(message: JsMsg): ViewedMessage {
  const headers: Record<string, string> = {};
  for (const [key, values] of message.headers ?? []) headers[key] = values.join(",");
  const text = new TextDecoder().decode(message.data);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: shown as the text it is.
  }
  return {
    sequence: message.seq,
    subject: message.subject,
    time: message.time.toISOString(),
    headers,
    body,
  };
}

/**
 * Why a `--subject` that begins with the namespace matched nothing: it is given without it (the
 * subjects shown carry it). Undefined when that is not the case.
 */
export function namespacedSubjectHint(
  namespace: string,
  subject: string | undefined,
  matched: number,
): string | undefined {
  const prefix = `${namespace}.`;
  if (!namespace || !subject?.startsWith(prefix) || matched > 0) return undefined;
  return `--subject is given without NATS_NAMESPACE (${namespace}): try --subject ${subject.slice(prefix.length)}`;
}

/** The messages as text for a terminal, like `nats stream view`. */
export function viewText(messages: ViewedMessage[]): string {
  if (messages.length === 0) return "(no messages)\n";
  const blocks = messages.map((message) => {
    const headers = Object.entries(message.headers).map(([key, value]) => `  ${key}: ${value}`);
    const body =
      typeof message.body === "string" ? message.body : JSON.stringify(message.body, null, 2);
    return [
      `[${message.sequence}] ${message.subject}  ${message.time}`,
      ...headers,
      "",
      body,
      "",
    ].join("\n");
  });
  return `${blocks.join("\n")}`;
}

if (import.meta.main) {
  await runScript(spec, async ({ options, json }) => {
    const env = readOrdersEnv();
    const nc = await connectNats(env.NATS_URL, "stream-view");
    try {
      const messages = await viewStream(jetstream(nc), env.NATS_NAMESPACE, options);
      process.stdout.write(json ? `${JSON.stringify(messages, null, 2)}\n` : viewText(messages));
      const hint = namespacedSubjectHint(env.NATS_NAMESPACE, options.subject, messages.length);
      if (hint) process.stderr.write(`${hint}\n`);
      return 0;
    } finally {
      await nc.close();
    }
  });
}
