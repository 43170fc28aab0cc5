import pino from "pino";

export type Logger = pino.Logger;

/** A JSON logger: one line per event, ISO timestamps, the service name on every line. */
export function createLogger(
  service: string,
  level = "info",
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
