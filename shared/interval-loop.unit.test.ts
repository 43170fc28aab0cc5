import { expect, test } from "bun:test";
import { startIntervalLoop } from "./interval-loop.ts";
import { captureLogger, silentLogger } from "./testing/silent-logger.ts";
import { waitFor } from "./testing/test-environment.ts";

function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets time pass without a fixed sleep: waits until another 5 ms loop has run `count` times. */
async function ticksOfAnotherLoop(count: number) {
  let ticks = 0;
  const clock = startIntervalLoop({
    name: "clock",
    intervalMs: 5,
    log: silentLogger,
    run: async () => void ticks++,
  });
  await waitFor(() => ticks >= count, { message: `${count} runs of a 5 ms loop` });
  await clock.stop();
}

test("never runs twice at once, even when woken during a run", async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const gate = deferred();
  const loop = startIntervalLoop({
    name: "overlap",
    intervalMs: 60_000,
    log: silentLogger,
    run: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      if (runs === 1) await gate.promise;
      active--;
    },
  });
  await waitFor(() => runs === 1);
  loop.wake();
  loop.wake();
  loop.wake();
  gate.resolve();
  await waitFor(() => runs === 2);
  await loop.stop();
  expect(maxActive).toBe(1);
  expect(runs).toBe(2);
});

test("wake runs now instead of waiting for the interval", async () => {
  let runs = 0;
  const loop = startIntervalLoop({
    name: "wake",
    intervalMs: 60_000,
    log: silentLogger,
    run: async () => {
      runs++;
    },
  });
  await waitFor(() => runs === 1);
  loop.wake();
  await waitFor(() => runs === 2, { timeoutMs: 2_000 });
  await loop.stop();
});

test("a run that reports more work is followed by another run at once", async () => {
  let runs = 0;
  const loop = startIntervalLoop({
    name: "drain",
    intervalMs: 60_000,
    log: silentLogger,
    run: async () => ++runs < 5,
  });
  await waitFor(() => runs === 5, { timeoutMs: 2_000 });
  await loop.stop();
  expect(runs).toBe(5);
});

test("stop waits for the run in hand and schedules no more", async () => {
  const gate = deferred();
  let runs = 0;
  let finished = false;
  const loop = startIntervalLoop({
    name: "stop",
    intervalMs: 1,
    log: silentLogger,
    run: async () => {
      runs++;
      await gate.promise;
      finished = true;
    },
  });
  await waitFor(() => runs === 1);
  let stopResolved = false;
  const stopped = loop.stop().then(() => {
    stopResolved = true;
  });
  loop.wake();
  await ticksOfAnotherLoop(5);
  expect(stopResolved).toBe(false);
  gate.resolve();
  await stopped;
  expect(finished).toBe(true);
  // A stopped 1 ms loop would have run many times over while another loop ran 20 times.
  await ticksOfAnotherLoop(20);
  expect(runs).toBe(1);
});

test("a run that throws does not stop the loop", async () => {
  let runs = 0;
  const loop = startIntervalLoop({
    name: "throws",
    intervalMs: 1,
    log: silentLogger,
    run: async () => {
      runs++;
      throw new Error("boom");
    },
  });
  await waitFor(() => runs >= 3);
  await loop.stop();
});

test("the same failure is logged once, again only after a while, and the loop's recovery too", async () => {
  const logs = captureLogger("loop");
  let runs = 0;
  let errorText = "database down";
  let failing = true;
  const loop = startIntervalLoop({
    name: "outage",
    intervalMs: 1,
    log: logs.log,
    run: async () => {
      runs++;
      if (failing) throw new Error(errorText);
    },
  });
  const lines = (msg: string) => logs.lines.filter((line) => line.msg === msg);
  await waitFor(() => runs >= 5, { message: "five failed runs" });
  expect(lines("loop run failed")).toMatchObject([{ level: "error", err: "database down" }]);
  errorText = "connection refused";
  await waitFor(() => lines("loop run failed").length === 2, { message: "the new failure" });
  failing = false;
  await waitFor(() => lines("loop runs again").length === 1, { message: "the recovery" });
  await loop.stop();
  expect(lines("loop run failed")).toHaveLength(2);
  expect(lines("loop run still failing")).toHaveLength(0);
  expect(lines("loop runs again")[0]).toMatchObject({ level: "info", loop: "outage" });
  expect(lines("loop runs again")[0]?.failedRuns).toBeGreaterThanOrEqual(1);
});

test("a failure that lasts is logged again once its interval has passed, with the runs it took", async () => {
  const logs = captureLogger("loop");
  let runs = 0;
  const loop = startIntervalLoop({
    name: "lasting",
    intervalMs: 1,
    log: logs.log,
    repeatedFailureLogMs: 0,
    run: async () => {
      runs++;
      throw new Error("database down");
    },
  });
  await waitFor(() => runs >= 3, { message: "three failed runs" });
  await loop.stop();
  const again = logs.lines.filter((line) => line.msg === "loop run still failing");
  expect(again.length).toBe(runs - 1);
  expect(again[0]).toMatchObject({ err: "database down", failedRuns: 2 });
});

test("a run can ask for its next run sooner than the interval", async () => {
  let runs = 0;
  const loop = startIntervalLoop({
    name: "sooner",
    intervalMs: 60_000,
    log: silentLogger,
    run: async () => (++runs < 3 ? 5 : undefined),
  });
  await waitFor(() => runs === 3, { timeoutMs: 2_000 });
  await loop.stop();
  expect(runs).toBe(3);
});

test("an interval longer than a timer can hold waits as long as a timer can, not 1 ms", async () => {
  let runs = 0;
  const loop = startIntervalLoop({
    name: "very-long",
    intervalMs: 2 ** 31 + 1_000,
    log: silentLogger,
    run: async () => void runs++,
  });
  await ticksOfAnotherLoop(20);
  await loop.stop();
  expect(runs).toBe(1);
});

test("after a run that throws, the next comes after retryAfterFailureMs, not the interval", async () => {
  let runs = 0;
  const loop = startIntervalLoop({
    name: "retry",
    intervalMs: 60_000,
    retryAfterFailureMs: 5,
    log: silentLogger,
    run: async () => {
      runs++;
      if (runs < 3) throw new Error("not yet");
    },
  });
  await waitFor(() => runs === 3, { message: "two retries" });
  await ticksOfAnotherLoop(10);
  await loop.stop();
  expect(runs).toBe(3); // once it succeeded, back to the interval
});
