import type { Queryable } from "../database.ts";

/** What the inbox reads of an event: its id (the dedup key) and its type (picks the handler). */
export type InboxEvent = { id: string; type: string };

/**
 * A message body read as an event, or the problems found (a dot path, "" for the whole
 * message, and what), with the envelope when that alone is valid (e.g. a type the module does
 * not know).
 */
export type ParsedMessage =
  | { success: true; event: InboxEvent }
  | {
      success: false;
      issues: { path: string; message: string }[];
      envelope?: InboxEvent;
    };

/**
 * The publishing module as log lines name it (`Sales`), and its script that sends the stream's
 * messages again (`outbox:republish`, run with `--sequences <from>-<to>`).
 */
export type InboxPublisher = { name: string; republishScript: string };

/**
 * What names one module's inbox, for every building block here. The module owns the table:
 * `<schema>.inbox_messages`, made by its own migrations.
 */
export type InboxSpec = {
  /**
   * The schema that holds the module's `inbox_messages` table (`"orders"` for
   * `orders.inbox_messages`). In lower case: the pool's camelCase-to-snake_case column
   * transform applies to identifiers too.
   */
  schema: string;
  /** Out-of-process writers (e.g. `bun run inbox:replay`) `NOTIFY` here to wake ProcessInboxJob. */
  channel: string;
  /** Reads a message body as an event; never throws. */
  parse: (body: Uint8Array | string) => ParsedMessage;
  /**
   * The JetStream stream to consume (`SALES`), and the subjects to take from it (`sales.>`),
   * before `names` puts them in their namespace: every building block namespaces them itself.
   */
  stream: string;
  subjects: string;
  /** The durable consumer's name: `orders` for `nats consumer info SALES orders`. */
  consumerName: string;
  /** The consuming module as log lines and metric help texts name it: `Orders`. */
  reader: string;
  /** The publishing module, and its script that sends the stream's messages again. */
  publisher: InboxPublisher;
  /**
   * What the inbox's metric names start with: the module's name (`orders` for
   * `orders_inbox_pending`, `orders_stream_removed_unread_total`, …).
   */
  metricPrefix: string;
};

/** The inbox table, for a query's template: `${inboxTable(sql, inbox)}`. */
export const inboxTable = (sql: Queryable, { schema }: Pick<InboxSpec, "schema">) =>
  sql(`${schema}.inbox_messages`);
