import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import {
  PRODUCT_CREATED_V1,
  PRODUCT_UPDATED_V1,
  type ProductSnapshot,
  SALES_STREAM,
  SALES_SUBJECTS,
} from "contracts";
import { connectNats, ensureStream, natsNames, parseEnv } from "shared";
import { afterTests } from "shared/testing/cleanup.ts";
import { silentLogger } from "shared/testing/silent-logger.ts";
import { deleteStreams } from "shared/testing/stream-messages.ts";
import {
  createTestDatabase,
  type TestDatabase,
  testEnv,
  uniqueId,
  useIntegrationTimeout,
} from "shared/testing/test-environment.ts";
import { OrdersEnv } from "../env.ts";
import { type OrdersOverrides, type OrdersProcess, startOrders } from "../main.ts";

/**
 * A stream like Sales' in a namespace of the test's own, and a way to publish to it as Sales
 * would (or as Sales never would: malformed, duplicated, out of order).
 */
export async function startFakeSales() {
  useIntegrationTimeout();
  const namespace = `t${uniqueId()}`;
  const names = natsNames(namespace);
  const nc = await connectNats(testEnv.NATS_URL);
  const jsm = await jetstreamManager(nc);
  const stream = names.stream(SALES_STREAM);
  await ensureStream(jsm, {
    name: stream,
    subjects: [names.subject(SALES_SUBJECTS)],
    maxAgeMs: 60 * 60_000,
    duplicateWindowMs: 120_000,
  });
  const js = jetstream(nc);
  afterTests(async () => {
    await nc.close();
    await deleteStreams(testEnv.NATS_URL, [stream]);
  });

  return {
    namespace,
    stream,
    jsm,
    /** Publishes raw bytes on `subject` (inside the namespace). */
    async publishRaw(
      subject: string,
      body: string | Uint8Array,
      msgID = Bun.randomUUIDv7(),
      traceparent?: string,
    ) {
      const headers = natsHeaders();
      if (traceparent) headers.set("traceparent", traceparent);
      return js.publish(names.subject(subject), body, { msgID, headers });
    },
    /** Publishes a product event; `msgID` defaults to the event id, as the relay does. */
    async publishProduct(
      kind: "created" | "updated",
      data: ProductSnapshot,
      {
        id = Bun.randomUUIDv7(),
        msgID = id,
        traceparent,
      }: { id?: string; msgID?: string; traceparent?: string } = {},
    ) {
      const event = productEvent(kind, data, id);
      await this.publishRaw(event.type, JSON.stringify(event), msgID, traceparent);
      return event;
    },
  };
}

export type FakeSales = Awaited<ReturnType<typeof startFakeSales>>;

/** A product event as Sales' relay sends it. */
export function productEvent(
  kind: "created" | "updated",
  data: ProductSnapshot,
  id = Bun.randomUUIDv7(),
) {
  return {
    specversion: "1.0",
    id,
    source: "sales",
    type: kind === "created" ? PRODUCT_CREATED_V1 : PRODUCT_UPDATED_V1,
    subject: data.productId,
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data,
  };
}

export function productSnapshot(overrides: Partial<ProductSnapshot> = {}): ProductSnapshot {
  return {
    productId: Bun.randomUUIDv7(),
    sku: `SKU-${uniqueId().toUpperCase()}`,
    name: "Mug",
    description: null,
    price: { amount: 1299, currency: "EUR" },
    version: 1,
    ...overrides,
  };
}

/**
 * Orders running in this test process against `database` (a new one by default) and the fake
 * Sales stream's namespace; stopped (and the database dropped, if it made it) after the tests.
 */
export async function startOrdersUnderTest(
  sales: FakeSales,
  {
    env = {},
    overrides = {},
    database,
  }: { env?: Record<string, string>; overrides?: OrdersOverrides; database?: TestDatabase } = {},
): Promise<OrdersProcess & { database: TestDatabase }> {
  const db = database ?? (await createTestDatabase());
  const orders = await startOrders(
    parseEnv(OrdersEnv, {
      PORT: "0",
      DATABASE_URL: db.url,
      NATS_URL: testEnv.NATS_URL,
      NATS_NAMESPACE: sales.namespace,
      INBOX_POLL_MS: "50",
      ...env,
    }),
    { log: silentLogger, ...overrides },
  ).catch(async (error: unknown) => {
    if (!database) await db.drop();
    throw error;
  });
  afterTests(async () => {
    await orders.stop();
    if (!database) await db.drop();
  });
  return { ...orders, database: db };
}
