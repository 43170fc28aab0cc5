import { errorMessage } from "./errors.ts";
import { createLogger, type Logger } from "./logger.ts";

/**
 * Each step of a stop has a limit of its own (a request 5 s, the NATS drain 5 s, Postgres 5 s);
 * this one catches a step that hangs anyway. Under compose's `stop_grace_period` (15 s), so
 * the process says why it exits before the SIGKILL.
 */
export const SHUTDOWN_TIME_LIMIT_MS = 12_000;

export type SignalSource = {
  on(signal: "SIGTERM" | "SIGINT", listener: () => void): unknown;
};

export type StopOnSignalsOptions = {
  log: Pick<Logger, "info" | "warn" | "error">;
  timeLimitMs?: number;
  /** For tests: where the signals come from and how the process exits. */
  signals?: SignalSource;
  exit?: (code: number) => void;
};

/**
 * On SIGTERM or SIGINT, runs `stop` once and exits 0; 1 when stopping failed or took longer
 * than the time limit. While stopping, a second SIGINT (Ctrl-C again) exits 1 at once; any other
 * signal is ignored, e.g. the SIGTERM with which `bun run dev` passes on the Ctrl-C that the
 * terminal also sent.
 *
 * Cutting a stop short loses nothing: an event stays in the outbox until JetStream has it, and
 * JetStream delivers again what Orders did not ack; the cost is work done twice, which the inbox
 * makes harmless.
 */
export function stopOnSignals(
  name: string,
  stop: () => Promise<void>,
  {
    log,
    timeLimitMs = SHUTDOWN_TIME_LIMIT_MS,
    signals = process,
    exit = (code) => process.exit(code),
  }: StopOnSignalsOptions,
): void {
  let stopping = false;
  let interrupts = 0;
  const shutdown = async (signal: "SIGTERM" | "SIGINT") => {
    if (signal === "SIGINT") interrupts++;
    if (stopping) {
      if (interrupts < 2) return;
      log.warn({ signal }, `${name}: interrupted again, exiting without finishing the stop`);
      return exit(1);
    }
    stopping = true;
    log.info({ signal }, `${name}: stopping`);
    const timer = setTimeout(() => {
      log.error({ timeLimitMs }, `${name}: stop took longer than its time limit, exiting`);
      exit(1);
    }, timeLimitMs);
    try {
      await stop();
      exit(0);
    } catch (error) {
      log.error({ signal, err: errorMessage(error) }, `${name}: stop failed`);
      exit(1);
    } finally {
      clearTimeout(timer);
    }
  };
  signals.on("SIGTERM", () => void shutdown("SIGTERM"));
  signals.on("SIGINT", () => void shutdown("SIGINT"));
}

/**
 * While the process starts (migrations, connections), SIGTERM or SIGINT exits 1 at once: what
 * was half done rolls back with its connection. Without it, Bun as PID 1 in a container would
 * ignore the signal until the supervisor's SIGKILL. Call `started()` before `stopOnSignals`.
 */
export function exitOnSignalsWhileStarting(
  name: string,
  {
    log,
    signals = process,
    exit = (code) => process.exit(code),
  }: {
    log: Pick<Logger, "warn">;
    signals?: SignalSource & {
      off(signal: "SIGTERM" | "SIGINT", listener: () => void): unknown;
    };
    exit?: (code: number) => void;
  },
): { started(): void } {
  const listeners = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const listener = () => {
      log.warn({ signal }, `${name}: stopped while starting, exiting`);
      exit(1);
    };
    signals.on(signal, listener);
    return [signal, listener] as const;
  });
  return {
    started() {
      for (const [signal, listener] of listeners) signals.off(signal, listener);
    },
  };
}

/**
 * An error nothing caught (a rejected promise without a handler) leaves the process in a state
 * nobody planned for: it is logged as one JSON line, with its stack, and the process exits 1 for
 * its supervisor to start it again. Nothing is lost: the outbox and the inbox are in Postgres.
 */
export function exitOnUncaughtErrors(
  name: string,
  {
    log,
    errors = process,
    exit = (code) => process.exit(code),
  }: {
    log: Pick<Logger, "fatal">;
    errors?: {
      on(
        event: "uncaughtException" | "unhandledRejection",
        listener: (error: unknown) => void,
      ): unknown;
    };
    exit?: (code: number) => void;
  },
): void {
  const fail = (kind: string) => (error: unknown) => {
    log.fatal(
      { err: error instanceof Error ? error.stack : String(error) },
      `${name}: ${kind}, exiting`,
    );
    exit(1);
  };
  errors.on("uncaughtException", fail("uncaught exception"));
  errors.on("unhandledRejection", fail("unhandled rejection"));
}

/**
 * Runs a process's `start` with the life cycle both processes share, in the order it needs: an
 * uncaught error exits from the first line on, a signal while starting exits at once, and once
 * started, a signal stops it in order (`stopOnSignals`).
 */
export async function runService<Service extends { stop(): Promise<void> }>(
  name: string,
  logLevel: string,
  start: (log: Logger) => Promise<Service>,
): Promise<Service> {
  const log = createLogger(name, logLevel);
  exitOnUncaughtErrors(name, { log });
  const starting = exitOnSignalsWhileStarting(name, { log });
  let service: Service;
  try {
    service = await start(log);
  } catch (error) {
    // E.g. Postgres not up yet: said as what it is, for the supervisor to start it again.
    log.fatal(
      { err: error instanceof Error ? error.stack : String(error) },
      `${name}: cannot start: ${errorMessage(error)}; exiting`,
    );
    process.exit(1);
  }
  starting.started();
  stopOnSignals(name, service.stop, { log });
  return service;
}
