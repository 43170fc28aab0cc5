import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./free-port.ts";

const REPOSITORY_ROOT = join(import.meta.dir, "..", "..");

export type ServiceLogLine = { msg?: string; level?: string } & Record<string, unknown>;

export type ServiceProcess = {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Every JSON log line the process wrote since it was first started (none with `logFile`). */
  readonly logs: ServiceLogLine[];
  readonly pid: number | undefined;
  /** Starts (or restarts) the process and waits until `/health` answers. */
  start(): Promise<void>;
  /** Sends `signal` and waits for the exit; resolves with the exit code (null when killed). */
  stop(signal?: "SIGTERM" | "SIGINT" | "SIGKILL"): Promise<number | null>;
  /** Waits for a log line that matches; rejects after `timeoutMs`. */
  waitForLog(match: (line: ServiceLogLine) => boolean, timeoutMs?: number): Promise<ServiceLogLine>;
};

type ServiceProcessOptions = {
  name: string;
  entry: string;
  env: Record<string, string>;
  port?: number;
  /** Flags for `bun` itself, before the entry (e.g. `--cpu-prof`). */
  runtimeFlags?: string[];
  /** Also print every line, prefixed with `name` (for `bun run dev`). */
  echo?: boolean;
  /** How wide that prefix's name column is, to line up with other processes' (default: 7). */
  echoNameWidth?: number;
  /**
   * Append stdout and stderr to this file instead of collecting them, as a log shipper would
   * take them: reading the lines costs this process nothing (for the benchmark).
   */
  logFile?: string;
};

/**
 * Runs `bun <entry>` (e.g. `sales/main.ts`) as a real child process with `env`, on a free
 * port of its own, collecting its JSON log lines. Non-JSON output goes to this process' stderr.
 */
export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const service = await createServiceProcess(options);
  try {
    await service.start();
  } catch (error) {
    await service.stop("SIGKILL"); // it never became healthy: nobody else holds it
    throw error;
  }
  return service;
}

/**
 * The same, not started yet: whoever holds it can stop the process while it is starting (the
 * benchmark, told to stop meanwhile).
 */
export async function createServiceProcess({
  name,
  entry,
  env,
  port,
  runtimeFlags = [],
  echo = false,
  echoNameWidth = 7,
  logFile,
}: ServiceProcessOptions): Promise<ServiceProcess> {
  const servicePort = port ?? (await freePort());
  const logs: ServiceLogLine[] = [];
  const waiters = new Set<{
    match: (line: ServiceLogLine) => boolean;
    resolve: (line: ServiceLogLine) => void;
  }>();
  let child: Subprocess<"ignore", "pipe" | number, "pipe" | number> | undefined;

  function record(line: string, stream: "stdout" | "stderr") {
    if (line.trim() === "") return;
    if (echo)
      console[stream === "stdout" ? "log" : "error"](`${name.padEnd(echoNameWidth)}| ${line}`);
    try {
      const parsed = JSON.parse(line) as ServiceLogLine;
      logs.push(parsed);
      for (const waiter of waiters) if (waiter.match(parsed)) waiter.resolve(parsed);
    } catch {
      if (!echo) process.stderr.write(`${name}| ${line}\n`);
    }
  }

  async function pump(readable: ReadableStream<Uint8Array>, stream: "stdout" | "stderr") {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of readable) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) record(line, stream);
    }
    record(pending, stream);
  }

  // A test that fails because a process died should say why: its exit and its last words. (With
  // `echo`, its lines are on the terminal already, and the terminal's Ctrl-C may reach it first.)
  const stopping = new WeakSet<Subprocess>();
  async function reportUnexpectedExit(started: Subprocess, output: Promise<void>[]) {
    const code = await started.exited;
    await Promise.allSettled(output);
    if (stopping.has(started) || echo) return;
    const lastLines = logs.slice(-15).map((line) => `  ${JSON.stringify(line)}`);
    const where = logFile === undefined ? lastLines : [`  its log: ${logFile}`];
    const exit = `code ${code}, signal ${started.signalCode}`;
    const report = [`${name} (pid ${started.pid}) exited unexpectedly: ${exit}`, ...where];
    process.stderr.write(`${report.join("\n")}\n`);
  }

  const service: ServiceProcess = {
    name,
    port: servicePort,
    url: `http://127.0.0.1:${servicePort}`,
    logs,
    get pid() {
      return child?.pid;
    },
    async start() {
      const output = logFile === undefined ? "pipe" : openSync(logFile, "a");
      child = Bun.spawn([process.execPath, ...runtimeFlags, entry], {
        cwd: REPOSITORY_ROOT,
        env: { ...process.env, ...env, PORT: String(servicePort) },
        stdin: "ignore",
        stdout: output,
        stderr: output,
      });
      if (typeof output === "number") closeSync(output);
      const pumps: Promise<void>[] = [];
      if (child.stdout instanceof ReadableStream) pumps.push(pump(child.stdout, "stdout"));
      if (child.stderr instanceof ReadableStream) pumps.push(pump(child.stderr, "stderr"));
      void reportUnexpectedExit(child, pumps);
      const started = child;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        if (started.exitCode !== null)
          throw new Error(`${name} exited with ${started.exitCode} while starting`);
        const healthy = await fetch(`${service.url}/health`).then(
          (response) => response.ok,
          () => false,
        );
        if (healthy) return;
        await Bun.sleep(25);
      }
      throw new Error(`${name} did not answer /health within 20 s`);
    },
    async stop(signal = "SIGTERM") {
      if (!child || child.exitCode !== null || child.signalCode !== null)
        return child?.exitCode ?? null;
      stopping.add(child);
      child.kill(signal);
      await child.exited;
      return child.exitCode;
    },
    waitForLog(match, timeoutMs = 15_000) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (line: ServiceLogLine) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${name}: no matching log line within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
  return service;
}
