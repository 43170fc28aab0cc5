import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
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
  /** Suspends it (SIGSTOP): connections stay open but nothing answers, as in a partition. */
  freeze(): void;
  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void;
  /** Stops it and deletes its store (unless the store was given by the caller). */
  dispose(): Promise<void>;
};

/**
 * A `nats-server -js` of our own on 127.0.0.1, on a free port (or `port`), storing in
 * `storeDir` (a new temporary folder by default). Never the machine's shared server.
 */
export async function startNatsServer(
  options: {
    port?: number;
    storeDir?: string;
    binary?: string;
    log?: string;
    /** In a session of its own, so a Ctrl-C reaches only whoever started it, who stops it. */
    detached?: boolean;
    /** False for a server without JetStream, as Debian's packaged service runs. */
    jetstream?: boolean;
  } = {},
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
    const args = [binary, "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
    if (options.jetstream ?? true) args.push("-js");
    if (options.log) args.push("-l", options.log);
    process = Bun.spawn(args, {
      stdout: "ignore",
      stderr: "ignore",
      detached: options.detached ?? false,
    });
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
    freeze: () => process?.kill("SIGSTOP"),
    thaw: () => process?.kill("SIGCONT"),
    async dispose() {
      process?.kill("SIGCONT");
      await stop("SIGKILL");
      if (ownsStore) await rm(storeDir, { recursive: true, force: true });
    },
  };
}

/**
 * Cuts a stopped server's copy of `stream` down to its first `keep` messages, keeping its
 * consumers' state: what a disk that lost the latest writes, or a restore from an older copy,
 * leaves behind. Knows the file store's layout: the messages of a small stream in `1.blk`, each
 * record starting with its length (the high bit flags headers); the indexes beside it are
 * deleted, so the server rebuilds them from the block when it starts.
 */
export async function keepFirstMessages(storeDir: string, stream: string, keep: number) {
  const messages = join(storeDir, "jetstream", "$G", "streams", stream, "msgs");
  const files = await readdir(messages);
  if (files.filter((file) => file.endsWith(".blk")).length !== 1) {
    throw new Error(`expected one message block in ${messages}, found ${files.join(", ")}`);
  }
  const block = await readFile(join(messages, "1.blk"));
  let end = 0;
  for (let kept = 0; kept < keep; kept++) end += block.readUInt32LE(end) & 0x7fffffff;
  if (end > block.length) throw new Error(`${stream} holds fewer than ${keep} messages`);
  await writeFile(join(messages, "1.blk"), block.subarray(0, end));
  for (const file of files) if (!file.endsWith(".blk")) await rm(join(messages, file));
}
