import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import { errorMessage } from "../errors.ts";
import { connectNats } from "../nats.ts";
import { startNatsServer } from "../processes/nats-server.ts";
import { findPostgresBinDir, startPostgresServer } from "../processes/postgres-server.ts";

export type StartedService = { name: string; stop(): Promise<void> };

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** What a probe found: the service works, nothing answers, or it answers but will not serve. */
export type Probe = { state: "up" } | { state: "down" } | { state: "refused"; reason: string };

/** Whether Postgres at `url` answers `select 1`; `refused` when it answers with an error. */
export async function probePostgres(url: string): Promise<Probe> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return { state: "up" };
  } catch (error) {
    // The server answered (a password it wants, a role it does not know): starting another
    // one on its port cannot help.
    if (error instanceof postgres.PostgresError) return { state: "refused", reason: error.message };
    return { state: "down" };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Whether NATS at `url` answers with JetStream; `refused` when it answers without. */
export async function probeNats(url: string): Promise<Probe> {
  let nc: Awaited<ReturnType<typeof connectNats>>;
  try {
    nc = await connectNats(url, "dev-probe");
  } catch {
    return { state: "down" };
  }
  try {
    await (await jetstreamManager(nc)).getAccountInfo();
    return { state: "up" };
  } catch (error) {
    return { state: "refused", reason: `no JetStream (${errorMessage(error)})` };
  } finally {
    await nc.close();
  }
}

/** Creates the database named in `url` when the server has no such database yet. */
export async function ensureDatabaseExists(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1)) || "postgres";
  const sql = postgres(maintenanceUrl(url), { max: 1, onnotice: () => {} });
  try {
    const [exists] = await sql`select 1 from pg_database where datname = ${name}`;
    if (!exists) await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** The same server's `postgres` database, which exists before the one `url` names may. */
function maintenanceUrl(url: string): string {
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  return maintenance.toString();
}

function isLoopback(url: string): boolean {
  return LOOPBACK.has(new URL(url).hostname);
}

async function dockerEngineRuns(): Promise<boolean> {
  if (!Bun.which("docker")) return false;
  const child = Bun.spawn(["docker", "info"], { stdout: "ignore", stderr: "ignore" });
  return (await child.exited) === 0;
}

async function composeUp(service: string, root: string): Promise<StartedService> {
  const up = Bun.spawn(["docker", "compose", "up", "-d", "--wait", service], {
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
    detached: true, // a Ctrl-C lets it finish, then stops what it started
  });
  if ((await up.exited) !== 0) throw new Error(`docker compose up ${service} failed`);
  return {
    name: `${service} (docker compose)`,
    async stop() {
      await Bun.spawn(["docker", "compose", "stop", service], {
        cwd: root,
        stdout: "ignore",
        stderr: "ignore",
      }).exited;
    },
  };
}

/**
 * Makes sure Postgres answers at `url`: uses a running server, or starts one from the local
 * PostgreSQL binaries with its data in `dataRoot/postgres`, or (without the binaries) via
 * `docker compose` when a Docker engine runs. Returns what it started, to stop on exit.
 */
export async function ensurePostgres(
  url: string,
  dataRoot: string,
  root: string,
): Promise<StartedService | undefined> {
  const probe = await probePostgres(maintenanceUrl(url));
  if (probe.state === "up") return undefined;
  if (probe.state === "refused") {
    throw new Error(
      `Postgres at ${new URL(url).host} answers but refuses the connection: ${probe.reason}. Set DATABASE_URL to a user (and password) it accepts, e.g. postgres://postgres:secret@127.0.0.1:5432/postgres`,
    );
  }
  if (!isLoopback(url)) throw new Error(`Postgres at ${new URL(url).host} does not answer`);
  const port = Number(new URL(url).port || 5432);
  // On PATH, or in Debian's /usr/lib/postgresql/<version>/bin, which is not on PATH.
  const binDir = await findPostgresBinDir().catch(() => undefined);
  if (binDir) {
    const dataDir = join(dataRoot, "postgres");
    await mkdir(dataDir, { recursive: true });
    const server = await startPostgresServer({ port, dataDir, binDir, detached: true });
    return { name: `postgres (local, ${dataDir})`, stop: () => server.stop("fast") };
  }
  if (await dockerEngineRuns()) return composeUp("postgres", root);
  throw new Error(
    "Postgres does not answer and neither PostgreSQL binaries nor a Docker engine were found",
  );
}

/** The same for NATS with JetStream: a running server, local `nats-server`, or compose. */
export async function ensureNats(
  url: string,
  dataRoot: string,
  root: string,
): Promise<StartedService | undefined> {
  const first = url.split(",")[0] ?? url;
  const probe = await probeNats(first);
  if (probe.state === "up") return undefined;
  if (probe.state === "refused") {
    throw new Error(
      `NATS at ${new URL(first).host} answers but with ${probe.reason}: run it with JetStream (nats-server -js), or stop it and bun run dev starts one of its own`,
    );
  }
  if (!isLoopback(first)) throw new Error(`NATS at ${new URL(first).host} does not answer`);
  const port = Number(new URL(first).port || 4222);
  if (Bun.which("nats-server") || (await Bun.file("/usr/sbin/nats-server").exists())) {
    const storeDir = join(dataRoot, "nats");
    await mkdir(storeDir, { recursive: true });
    const server = await startNatsServer({
      port,
      storeDir,
      log: join(dataRoot, "nats-server.log"),
      detached: true,
    });
    return { name: `nats-server (local, ${storeDir})`, stop: () => server.stop("SIGTERM") };
  }
  if (await dockerEngineRuns()) return composeUp("nats", root);
  throw new Error("NATS does not answer and neither nats-server nor a Docker engine were found");
}
