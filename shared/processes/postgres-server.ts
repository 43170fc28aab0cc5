import { chown, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./free-port.ts";

export type LocalPostgresServer = {
  url: string;
  port: number;
  dataDir: string;
  /** Stops the server: "fast" rolls back open transactions and exits, "immediate" crashes out. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** Stops it and deletes its data folder (unless the folder was given by the caller). */
  dispose(): Promise<void>;
};

/**
 * A PostgreSQL cluster of our own on 127.0.0.1 (TCP only, trust auth, user `postgres`),
 * initialised in `dataDir` when empty (a new temporary folder by default). As root it runs as
 * the `postgres` user, since Postgres refuses to run as root. Never the machine's shared server.
 */
export async function startPostgresServer(
  options: {
    port?: number;
    dataDir?: string;
    binDir?: string;
    /** Run `initdb` and `pg_ctl` in a session of their own, so a Ctrl-C does not cut them short. */
    detached?: boolean;
  } = {},
): Promise<LocalPostgresServer> {
  const port = options.port ?? (await freePort());
  const ownsData = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "pg-data-")));
  const binDir = options.binDir ?? (await findPostgresBinDir());
  const asRoot = process.getuid?.() === 0;
  const asOwner = (command: string[]) =>
    asRoot ? ["runuser", "-u", "postgres", "--", ...command] : command;

  async function run(command: string[]) {
    const child = Bun.spawn(asOwner(command), {
      stdout: "pipe",
      stderr: "pipe",
      detached: options.detached ?? false,
    });
    const [code, stdout, stderr] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    if (code !== 0) throw new Error(`${command.join(" ")} failed (${code}): ${stderr || stdout}`);
  }

  await mkdir(dataDir, { recursive: true });
  if (asRoot) await chown(dataDir, ...(await postgresUserIds()));
  if ((await readdir(dataDir)).length === 0) {
    await run([
      join(binDir, "initdb"),
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
    ]);
  }

  async function start() {
    const settings = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off`;
    await run([
      join(binDir, "pg_ctl"),
      "-D",
      dataDir,
      "-o",
      settings,
      "-l",
      join(dataDir, "server.log"),
      "-w",
      "start",
    ]);
    await waitForPort(port);
  }

  async function stop(mode: "fast" | "immediate" = "fast") {
    await run([join(binDir, "pg_ctl"), "-D", dataDir, "-m", mode, "-w", "stop"]).catch((error) => {
      if (!String(error).includes("Is server running?")) throw error;
    });
  }

  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop,
    start,
    async dispose() {
      await stop("immediate");
      if (ownsData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Where `initdb` and `pg_ctl` live: on PATH, or Debian's versioned folder. */
export async function findPostgresBinDir(): Promise<string> {
  const onPath = Bun.which("pg_ctl");
  if (onPath) return join(onPath, "..");
  const versions = await readdir("/usr/lib/postgresql").catch(() => [] as string[]);
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest)
    throw new Error("PostgreSQL binaries (initdb, pg_ctl) not found; install PostgreSQL");
  return `/usr/lib/postgresql/${newest}/bin`;
}

async function postgresUserIds(): Promise<[number, number]> {
  const child = Bun.spawn(["id", "-u", "postgres"], { stdout: "pipe" });
  const uid = Number((await new Response(child.stdout).text()).trim());
  const group = Bun.spawn(["id", "-g", "postgres"], { stdout: "pipe" });
  const gid = Number((await new Response(group.stdout).text()).trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(
      `Running as ${userInfo().username}: a "postgres" user is needed to run Postgres`,
    );
  }
  return [uid, gid];
}
