import type { Sql } from "../database.ts";
import { natsNames } from "../nats.ts";
import { type ServiceProcess, startServiceProcess } from "../processes/service-process.ts";
import { deleteStreams } from "../testing/stream-messages.ts";
import {
  createTestDatabase,
  type TestDatabase,
  testEnv,
  uniqueId,
} from "../testing/test-environment.ts";

export type SystemUnderTest = {
  sales: ServiceProcess;
  orders: ServiceProcess;
  database: TestDatabase;
  sql: Sql;
  natsUrl: string;
  namespace: string;
  streamName: string;
  /** Starts another Orders process on the same database and namespace. */
  startOrders(env?: Record<string, string>): Promise<ServiceProcess>;
  /** Stops both processes (SIGTERM), deletes the stream and drops the database. */
  dispose(): Promise<void>;
};

/**
 * Sales and Orders as real processes (`bun sales/main.ts`, `bun orders/main.ts`) on a fresh
 * database and NATS namespace: the system exactly as `bun run dev` runs it, treated as a
 * black box reached over HTTP, SQL and NATS. Nothing here imports either module.
 */
export async function startSystem({
  natsUrl = testEnv.NATS_URL,
  adminDatabaseUrl = testEnv.DATABASE_URL,
  env = {},
  salesEnv = {},
  ordersEnv = {},
}: {
  natsUrl?: string;
  adminDatabaseUrl?: string;
  env?: Record<string, string>;
  salesEnv?: Record<string, string>;
  ordersEnv?: Record<string, string>;
} = {}): Promise<SystemUnderTest> {
  const database = await createTestDatabase(adminDatabaseUrl);
  const namespace = `t${uniqueId()}`;
  const common = {
    DATABASE_URL: database.url,
    NATS_URL: natsUrl,
    NATS_NAMESPACE: namespace,
    LOG_LEVEL: "info",
    OUTBOX_POLL_MS: "200",
    INBOX_POLL_MS: "200",
    // A message in flight when Orders dies comes back after the ack wait: keep it short here.
    CONSUMER_ACK_WAIT_MS: "2000",
    ...env,
  };
  const sales = await startServiceProcess({
    name: "sales",
    entry: "sales/main.ts",
    env: { ...common, ...salesEnv },
  }).catch(async (error: unknown) => {
    await database.drop();
    throw error;
  });
  const extra: ServiceProcess[] = [];
  const startOrders = async (more: Record<string, string> = {}) => {
    const orders = await startServiceProcess({
      name: "orders",
      entry: "orders/main.ts",
      env: { ...common, ...ordersEnv, ...more },
    });
    extra.push(orders);
    return orders;
  };
  const streamName = natsNames(namespace).stream("SALES");
  // One that fails to start leaves nothing behind: the caller never gets a system to dispose.
  const orders = await startOrders().catch(async (error: unknown) => {
    await sales.stop("SIGKILL");
    await deleteStreams(natsUrl, [streamName]).catch(() => {});
    await database.drop();
    throw error;
  });

  return {
    sales,
    orders,
    database,
    sql: database.sql,
    natsUrl,
    namespace,
    streamName,
    startOrders,
    async dispose() {
      await Promise.all([
        sales.stop("SIGKILL"),
        ...extra.map((process) => process.stop("SIGKILL")),
      ]);
      await deleteStreams(natsUrl, [streamName]).catch(() => {});
      await database.drop();
    },
  };
}

/**
 * Records in `audit.inbox_processed` every time an inbox row becomes `processed`: a row (and
 * so its handler's effects, which commit with it) applied twice shows up as two audit rows.
 */
export async function installApplyAudit(sql: Sql): Promise<void> {
  await sql.unsafe(`
    create schema if not exists audit;
    create table if not exists audit.inbox_processed (
      event_id uuid not null,
      at timestamptz not null default clock_timestamp()
    );
    -- security definer: the trigger fires in Orders' connection, whose role may not write here
    create or replace function audit.record_processed() returns trigger
    language plpgsql security definer as $$
    begin
      insert into audit.inbox_processed (event_id) values (new.id);
      return new;
    end $$;
    drop trigger if exists inbox_processed_audit on orders.inbox_messages;
    create trigger inbox_processed_audit
      after update of status on orders.inbox_messages
      for each row when (new.status = 'processed' and old.status is distinct from 'processed')
      execute function audit.record_processed();`);
}

/** Event ids the audit saw applied more than once. */
export async function appliedTwice(sql: Sql): Promise<string[]> {
  const rows = await sql<{ eventId: string }[]>`
    select event_id from audit.inbox_processed group by event_id having count(*) > 1`;
  return rows.map((row) => row.eventId);
}

/** JSON over HTTP, for driving the processes like a client would. */
export async function http<T = Record<string, unknown>>(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}
