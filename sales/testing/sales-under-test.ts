import { SALES_STREAM } from "contracts";
import { parseEnv } from "shared";
import { afterTests } from "shared/testing/cleanup.ts";
import { silentLogger } from "shared/testing/silent-logger.ts";
import { deleteStreams } from "shared/testing/stream-messages.ts";
import {
  createTestDatabase,
  type TestDatabase,
  testEnv,
  uniqueId,
} from "shared/testing/test-environment.ts";
import { SalesEnv } from "../env.ts";
import { type SalesOverrides, type SalesProcess, startSales } from "../main.ts";

/**
 * Sales running in this test process against its own database and NATS namespace, stopped
 * when the file's tests are done. `env` overrides any setting (e.g. `OUTBOX_POLL_MS`).
 */
export async function startSalesUnderTest(
  env: Record<string, string> = {},
  overrides: SalesOverrides = {},
): Promise<SalesProcess & { database: TestDatabase }> {
  const database = await createTestDatabase();
  const namespace = `t${uniqueId()}`;
  const sales = await startSales(
    parseEnv(SalesEnv, {
      PORT: "0",
      DATABASE_URL: database.url,
      NATS_URL: testEnv.NATS_URL,
      NATS_NAMESPACE: namespace,
      ...env,
    }),
    { log: silentLogger, ...overrides },
  ).catch(async (error: unknown) => {
    await database.drop();
    throw error;
  });
  afterTests(async () => {
    await sales.stop();
    await deleteStreams(testEnv.NATS_URL, [`${namespace}_${SALES_STREAM}`]);
    await database.drop();
  });
  return { ...sales, database };
}
