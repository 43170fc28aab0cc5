import { afterAll } from "bun:test";

const leftovers = new Set<() => Promise<void>>();

/**
 * Runs `cleanup` once the enclosing `describe` (or file) is done, like `afterAll`. Bun skips that
 * hook when a `-t` filter leaves the describe no test to run, although its body (which made
 * the database, the stream, the process) did run; such cleanups run at the end of the run
 * instead (`runLeftoverCleanups`, from the preload), so a filtered run leaves nothing behind.
 */
export function afterTests(cleanup: () => Promise<void> | void): void {
  let done = false;
  const once = async () => {
    if (done) return;
    done = true;
    leftovers.delete(once);
    await cleanup();
  };
  leftovers.add(once);
  afterAll(once);
}

/** The cleanups whose `afterAll` never ran, newest first (a process before its database). */
export async function runLeftoverCleanups(): Promise<void> {
  for (const cleanup of [...leftovers].reverse()) {
    await cleanup().catch((error) => console.error("test cleanup failed:", error));
  }
}
