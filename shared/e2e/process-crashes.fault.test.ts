import { afterEach, expect, test } from "bun:test";
import { type FaultSystem, reportScenario, startFaultSystem } from "./fault-system.ts";
import { startWriteLoad } from "./write-load.ts";

let system: FaultSystem | undefined;
afterEach(async () => {
  await system?.dispose();
  system = undefined;
});

test("SIGKILL Sales repeatedly while writes and the relay run", async () => {
  system = await startFaultSystem();
  const { sales } = system;
  const load = startWriteLoad(() => sales.url);
  const kills = 4;
  for (let i = 0; i < kills; i++) {
    await load.waitForRequests(150);
    expect(await sales.stop("SIGKILL")).toBeNull();
    await load.waitForRequests(20); // some writes fail while Sales is down
    await sales.start();
  }
  await load.waitForRequests(150);
  await load.stop();
  const report = await system.checkInvariants();
  reportScenario("SIGKILL Sales", `${kills} kills`, report);
  expect(report.events).toBeGreaterThan(100);
}, 120_000);

test("SIGKILL Orders repeatedly while it consumes and processes", async () => {
  system = await startFaultSystem();
  const { sales, orders } = system;
  const load = startWriteLoad(() => sales.url);
  const kills = 4;
  for (let i = 0; i < kills; i++) {
    await load.waitForRequests(150);
    expect(await orders.stop("SIGKILL")).toBeNull();
    await load.waitForRequests(100);
    await orders.start();
  }
  await load.waitForRequests(150);
  await load.stop();
  const report = await system.checkInvariants();
  reportScenario("SIGKILL Orders", `${kills} kills`, report);
  expect(report.events).toBeGreaterThan(100);
}, 120_000);

test("SIGTERM under load: each process exits 0 within 10 s and nothing is lost", async () => {
  system = await startFaultSystem();
  const { sales, orders } = system;
  const load = startWriteLoad(() => sales.url);
  await load.waitForRequests(300);
  for (const process of [orders, sales]) {
    // 0, not the 1 of a stop that overran its time limit (see shared/process.ts).
    expect(await process.stop("SIGTERM")).toBe(0);
  }
  await load.waitForRequests(20);
  await sales.start();
  await orders.start();
  await load.waitForRequests(150);
  await load.stop();
  const report = await system.checkInvariants();
  reportScenario("SIGTERM under load", "both processes stopped and restarted", report);
}, 120_000);
