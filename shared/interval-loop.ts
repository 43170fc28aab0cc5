import { MAX_TIMER_MS } from "./env.ts";
import { errorMessage } from "./errors.ts";
import type { Logger } from "./logger.ts";

export type IntervalLoop = {
  /** Run as soon as possible: now if idle, right after the current run otherwise. */
  wake(): void;
  /** Stops scheduling runs and resolves once the run in hand (if any) has finished. */
  stop(): Promise<void>;
};

export type IntervalLoopOptions = {
  name: string;
  intervalMs: number;
  /**
   * One run. Return `true` when there may be more work, to run again without waiting, or a
   * number of milliseconds to run again sooner (or later) than `intervalMs` this once.
   */
  run: () => Promise<unknown>;
  log: Logger;
  /**
   * A run failing the same way again is logged only this often (default a minute), saying how
   * many runs failed meanwhile: a loop polling every second during an outage would log each.
   */
  repeatedFailureLogMs?: number;
  /** After a run that throws, run again after this long (default `intervalMs`). */
  retryAfterFailureMs?: number;
};

/**
 * Calls `run` every `intervalMs`, never two runs at once. A run that throws is logged and the
 * loop carries on (after `retryAfterFailureMs`); the same failure again is logged once a minute,
 * and the first run that succeeds after failures says so.
 */
export function startIntervalLoop({
  name,
  intervalMs,
  run,
  log,
  repeatedFailureLogMs = 60_000,
  retryAfterFailureMs = intervalMs,
}: IntervalLoopOptions): IntervalLoop {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let immediate: ReturnType<typeof setImmediate> | undefined;
  let current: Promise<void> | undefined;
  let wakeRequested = false;
  let stopped = false;
  /** The failure the runs since `since` ended with, last logged at `loggedAt`. */
  let failing: { err: string; runs: number; since: number; loggedAt: number } | undefined;

  function failed(error: unknown) {
    const err = errorMessage(error);
    const now = performance.now();
    if (failing?.err !== err) {
      log.error({ loop: name, err }, "loop run failed");
      failing = { err, runs: 1, since: now, loggedAt: now };
      return;
    }
    failing.runs++;
    if (now - failing.loggedAt < repeatedFailureLogMs) return;
    failing.loggedAt = now;
    const { runs, since } = failing;
    log.error(
      { loop: name, err, failedRuns: runs, forMs: Math.round(now - since) },
      "loop run still failing",
    );
  }

  function succeeded() {
    if (!failing) return;
    const { runs, since } = failing;
    failing = undefined;
    log.info(
      { loop: name, failedRuns: runs, forMs: Math.round(performance.now() - since) },
      "loop runs again",
    );
  }

  function cancel() {
    clearTimeout(timer);
    clearImmediate(immediate);
    timer = immediate = undefined;
  }

  // "Now" is the next turn of the event loop, not a 0 ms timer: timers fire no sooner than 1 ms,
  // and each wake-up on the path from a commit to the next module would add that much latency.
  function schedule(delayMs: number) {
    cancel();
    if (delayMs === 0) immediate = setImmediate(tick);
    else timer = setTimeout(tick, Math.min(delayMs, MAX_TIMER_MS));
  }

  async function tick() {
    if (stopped || current) return;
    wakeRequested = false;
    let next = intervalMs;
    current = (async () => {
      try {
        const outcome = await run();
        succeeded();
        if (outcome === true) next = 0;
        else if (typeof outcome === "number") next = outcome;
      } catch (error) {
        failed(error);
        next = retryAfterFailureMs;
      }
    })();
    await current;
    current = undefined;
    if (!stopped) schedule(wakeRequested ? 0 : next);
  }

  schedule(0);

  return {
    wake() {
      if (stopped) return;
      if (current) wakeRequested = true;
      else schedule(0);
    },
    async stop() {
      stopped = true;
      cancel();
      await current;
    },
  };
}
