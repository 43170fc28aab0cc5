/**
 * On SIGTERM or SIGINT, runs `stop` once and exits 0 (1 if stopping failed). A second signal
 * while stopping is ignored: the first shutdown is already finishing the work in hand.
 */
export function stopOnSignals(name: string, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    try {
      await stop();
      process.exit(0);
    } catch (error) {
      console.error(`${name}: shutdown after ${signal} failed:`, error);
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
