import { createLogger, type Logger } from "../logger.ts";

/** A logger that writes nothing: keeps test output readable. */
export const silentLogger = createLogger("test", "silent");

export type LogLine = { msg: string; level: string } & Record<string, unknown>;

/** A logger that keeps every line it writes, parsed, for tests to assert on. */
export function captureLogger(service = "test"): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger(service, "debug", {
    write: (line: string) => void lines.push(JSON.parse(line)),
  });
  return { log, lines };
}
