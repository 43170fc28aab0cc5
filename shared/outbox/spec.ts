import type { Queryable } from "../database.ts";

/**
 * What names one module's outbox, for every building block here. The module owns the table:
 * `<schema>.outbox_messages`, made by its own migrations.
 */
export type OutboxSpec = {
  /**
   * The schema that holds the module's `outbox_messages` table. In lower case: the pool's
   * camelCase-to-snake_case column transform applies to identifiers too.
   */
  schema: string;
  /** The JetStream stream the events go to, and the subjects it captures (before namespacing). */
  stream: string;
  subjects: string[];
  /** Out-of-process writers (e.g. `bun run outbox:republish`) `NOTIFY` here to wake the relay. */
  channel: string;
  /**
   * Serialises the relay's "published" marks with the stream check's re-queueing (`stream-check.ts`):
   * marks take it shared (or, finding the check at work, send their batch again instead of
   * waiting), the re-queueing exclusively, so no mark of acks from a server the check has since
   * found empty can commit after the check looked.
   */
  marksLock: string;
  /** Held by the relay batch that sends rows the stream check re-queued (see `relay.ts`). */
  refillLock: string;
  /**
   * What the outbox's metric names start with: the module's name (`sales` for
   * `sales_outbox_published_total`, …).
   */
  metricPrefix: string;
};

/** The outbox table, for a query's template: `${outboxTable(sql, outbox)}`. */
export const outboxTable = (sql: Queryable, { schema }: OutboxSpec) =>
  sql(`${schema}.outbox_messages`);
