import { expect, test } from "bun:test";
import { startIntervalLoop } from "./interval-loop.ts";
import { silentLogger } from "./testing/silent-logger.ts";
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
