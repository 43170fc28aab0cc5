import { createLogger } from "../logger.ts";

/** A logger that writes nothing: keeps test output readable. */
export const silentLogger = createLogger("test", "silent");
