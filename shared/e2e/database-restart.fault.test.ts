import { afterAll, expect, test } from "bun:test";
import { waitFor } from "../testing/test-environment.ts";
import { reportScenario, startFaultSystem } from "./fault-system.ts";
import { http } from "./system-under-test.ts";
import { startWriteLoad } from "./write-load.ts";

const system = await startFaultSystem({ ownPostgres: true });
afterAll(() => system.dispose());
const { sales, orders } = system;
const postgres = system.postgresServer;

const readiness = async (url: string) => (await http("GET", `${url}/ready`)).status;
/** Waits until both processes' `/ready` answers `status`. */
const bothReady = (status: 200 | 503, message: string) =>
  waitFor(
    async () => (await readiness(sales.url)) === status && (await readiness(orders.url)) === status,
    { message },
  );

test("Postgres restarts under load: both processes ride it out, answer 503 meanwhile, and lose nothing", async () => {
  if (!postgres) throw new Error("this scenario needs its own Postgres");
  const pids = [sales.pid, orders.pid];
  const load = startWriteLoad(() => sales.url);
  await load.waitForRequests(300);

  await postgres.stop("fast");
  await bothReady(503, "both /ready red");
  const failed = await Promise.all([
    http("POST", `${sales.url}/products`, {
      sku: "DURING-OUTAGE",
      name: "x",
      price: { amount: 1, currency: "EUR" },
    }),
    http("GET", `${sales.url}/products/${Bun.randomUUIDv7()}`),
    http("GET", `${orders.url}/products/${Bun.randomUUIDv7()}`),
    http("POST", `${orders.url}/orders`, {
      lines: [{ productId: Bun.randomUUIDv7(), quantity: 1 }],
    }),
  ]);
  expect(failed.map((response) => response.status)).toEqual([503, 503, 503, 503]);
  expect(failed[0]?.body).toMatchObject({ error: { code: "unavailable" } });
  await load.waitForRequests(100);

  await postgres.start();
  await bothReady(200, "both /ready green again");
  const created = await waitFor(
    async () => {
      const response = await http<{ id: string }>("POST", `${sales.url}/products`, {
        sku: `AFTER-OUTAGE-${Bun.randomUUIDv7().slice(-8).toUpperCase()}`,
        name: "x",
        price: { amount: 1, currency: "EUR" },
      });
      return response.status === 201 ? response.body : undefined;
    },
    { message: "writes to succeed again" },
  );
  await waitFor(
    async () => (await http("GET", `${orders.url}/products/${created.id}`)).status === 200,
    {
      message: "the new product in Orders",
    },
  );
  await load.waitForRequests(300);
  const stats = await load.stop();

  expect([sales.pid, orders.pid]).toEqual(pids);
  expect(stats.timeouts).toBe(0);
  expect(stats.byStatus["500"] ?? 0).toBe(0);
  expect(stats.byStatus["503"]).toBeGreaterThan(0);
  const report = await system.checkInvariants();
  reportScenario(
    "Postgres restart",
    `fast shutdown under load, ${stats.byStatus["503"]} requests answered 503`,
    report,
  );
}, 120_000);

test("Postgres crashes under load (immediate shutdown, recovery from WAL): nothing lost or applied twice", async () => {
  if (!postgres) throw new Error("this scenario needs its own Postgres");
  const pids = [sales.pid, orders.pid];
  const load = startWriteLoad(() => sales.url);
  await load.waitForRequests(300);

  await postgres.stop("immediate");
  await bothReady(503, "both /ready red");
  await postgres.start();
  await bothReady(200, "both /ready green again");
  await load.waitForRequests(300);
  const stats = await load.stop();

  expect([sales.pid, orders.pid]).toEqual(pids);
  expect(stats.timeouts).toBe(0);
  expect(stats.byStatus["500"] ?? 0).toBe(0);
  const report = await system.checkInvariants();
  reportScenario(
    "Postgres crash",
    `immediate shutdown under load, ${stats.byStatus["503"] ?? 0} requests answered 503`,
    report,
  );
}, 120_000);
