import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, waitForPort } from "./free-port.ts";

export type LocalNatsServer = {
  url: string;
  port: number;
  storeDir: string;
  /** Stops the server: SIGTERM waits for a clean shutdown, SIGKILL simulates a crash. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts it again on the same port and store (or on an empty store, to simulate data loss). */
  start(options?: { emptyStore?: boolean }): Promise<void>;
  /** Stops it and deletes its store (unless the store was given by the caller). */
  dispose(): Promise<void>;
};

/**
 * A `nats-server -js` of our own on 127.0.0.1, on a free port (or `port`), storing in
 * `storeDir` (a new temporary folder by default). Never the machine's shared server.
 */
export async function startNatsServer(
  options: { port?: number; storeDir?: string; binary?: string; log?: string } = {},
): Promise<LocalNatsServer> {
  const port = options.port ?? (await freePort());
  const ownsStore = options.storeDir === undefined;
  let storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "nats-store-")));
  const binary = options.binary ?? Bun.which("nats-server") ?? "/usr/sbin/nats-server";
  let process: Subprocess | undefined;

  async function start({ emptyStore = false } = {}) {
    if (emptyStore) {
      if (ownsStore) await rm(storeDir, { recursive: true, force: true });
      storeDir = ownsStore ? await mkdtemp(join(tmpdir(), "nats-store-")) : storeDir;
    }
    const args = [binary, "-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
    if (options.log) args.push("-l", options.log);
    process = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
    await waitForPort(port);
  }

  async function stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM") {
    if (!process || process.exitCode !== null || process.signalCode !== null) return;
    process.kill(signal);
    await process.exited;
  }

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get storeDir() {
      return storeDir;
    },
    stop,
    start,
    async dispose() {
      await stop("SIGKILL");
      if (ownsStore) await rm(storeDir, { recursive: true, force: true });
    },
  };
}
