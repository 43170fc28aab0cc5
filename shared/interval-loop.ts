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
};

/**
 * Calls `run` every `intervalMs`, never two runs at once. A run that throws is logged and the
 * loop carries on at the normal interval.
 */
export function startIntervalLoop({
  name,
  intervalMs,
  run,
  log,
}: IntervalLoopOptions): IntervalLoop {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: Promise<void> | undefined;
  let wakeRequested = false;
  let stopped = false;

  function schedule(delayMs: number) {
    clearTimeout(timer);
    timer = setTimeout(tick, delayMs);
  }

  async function tick() {
    if (stopped || current) return;
    wakeRequested = false;
    let next = intervalMs;
    current = (async () => {
      try {
        const outcome = await run();
        if (outcome === true) next = 0;
        else if (typeof outcome === "number") next = outcome;
      } catch (error) {
        log.error({ loop: name, err: errorMessage(error) }, "loop run failed");
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
      clearTimeout(timer);
      await current;
    },
  };
}
