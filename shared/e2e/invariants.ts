import type { Sql } from "../database.ts";
import { readStreamMessages } from "../testing/stream-messages.ts";
import { waitFor } from "../testing/test-environment.ts";

export type InvariantReport = {
  products: number;
  events: number;
  streamMessages: number;
  lost: number;
  appliedTwice: number;
};

/**
 * Waits until the system has caught up, then checks the promise of the project:
 * - every product in Sales is in Orders' cache, at the same version with the same fields;
 * - every event in the outbox and every event the stream holds is in Orders' inbox, once;
 * - every event's handler committed exactly once (`audit.inbox_processed`);
 * - nothing is left pending, parked or dead on either side.
 * Throws with the details of the first broken rule.
 */
export async function checkInvariants(
  { sql, natsUrl, streamName }: { sql: Sql; natsUrl: string; streamName: string },
  { timeoutMs = 60_000 } = {},
): Promise<InvariantReport> {
  let last: Record<string, number> | undefined;
  await waitFor(
    async () => {
      const [state] = await sql<
        { unpublished: number; undelivered: number; unprocessed: number; stale: number }[]
      >`
        select
          (select count(*)::int from sales.outbox_messages where published_at is null) as unpublished,
          (select count(*)::int from sales.outbox_messages o
             where not exists (select 1 from orders.inbox_messages i where i.id = o.id)) as undelivered,
          (select count(*)::int from orders.inbox_messages where status <> 'processed') as unprocessed,
          (select count(*)::int from sales.products p
             left join orders.product_cache c on c.product_id = p.id and c.version = p.version
            where c.product_id is null) as stale`;
      last = state;
      return state && Object.values(state).every((count) => count === 0);
    },
    { timeoutMs, intervalMs: 100, message: "Sales and Orders to converge" },
  ).catch((error) => {
    throw new Error(`${(error as Error).message}; still: ${JSON.stringify(last)}`);
  });

  const mismatched = await sql`
    select p.id from sales.products p
    left join orders.product_cache c on c.product_id = p.id
    where c.product_id is null or c.version <> p.version or c.sku <> p.sku or c.name <> p.name
       or c.price_amount <> p.price_amount or c.price_currency <> p.price_currency`;
  if (mismatched.length > 0)
    throw new Error(`${mismatched.length} product(s) differ between Sales and Orders' cache`);

  const [{ events, missing }] = (await sql`
    select count(*)::int as events,
           count(*) filter (where i.id is null)::int as missing
    from sales.outbox_messages o left join orders.inbox_messages i on i.id = o.id`) as [
    { events: number; missing: number },
  ];
  if (missing > 0) throw new Error(`${missing} outbox event(s) never reached Orders' inbox`);

  const messages = await readStreamMessages(natsUrl, streamName);
  // Identify each message by its event id: a copy re-sent with a new Nats-Msg-Id is the same event.
  const streamIds = [...new Set(messages.map((m) => (JSON.parse(m.body) as { id: string }).id))];
  const inInbox = await sql<
    { id: string }[]
  >`select id from orders.inbox_messages where id = any(${streamIds}::uuid[])`;
  if (inInbox.length !== streamIds.length) {
    throw new Error(
      `${streamIds.length - inInbox.length} stream message(s) are not in Orders' inbox`,
    );
  }

  const [{ twice, applied, processed }] = (await sql`
    select
      (select count(*)::int from (select event_id from audit.inbox_processed group by event_id having count(*) > 1) d) as twice,
      (select count(distinct event_id)::int from audit.inbox_processed) as applied,
      (select count(*)::int from orders.inbox_messages where status = 'processed') as processed`) as [
    { twice: number; applied: number; processed: number },
  ];
  if (twice > 0) throw new Error(`${twice} event(s) were applied more than once`);
  if (applied !== processed)
    throw new Error(`${processed} inbox rows processed but ${applied} applications audited`);

  const [{ products }] = (await sql`select count(*)::int as products from sales.products`) as [
    { products: number },
  ];
  return { products, events, streamMessages: messages.length, lost: missing, appliedTwice: twice };
}
