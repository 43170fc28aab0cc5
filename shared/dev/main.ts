/**
 * `bun run dev`: the whole stack with one command. Uses Postgres and NATS where they answer,
 * starts them otherwise (local binaries with data in `.dev-data/`, or docker compose), then runs
 * each module (`MODULE_PROCESSES`) with prefixed logs. Ctrl-C stops everything it started.
 */
import { join } from "node:path";
import * as v from "valibot";
import { databaseUrlVariable, loadEnv, natsUrlVariable } from "../env.ts";
import { type ServiceProcess, startServiceProcess } from "../processes/service-process.ts";
import {
  ensureDatabaseExists,
  ensureNats,
  ensurePostgres,
  type StartedService,
} from "./infrastructure-services.ts";
import { LOG_NAME_WIDTH, MODULE_PROCESSES, PORT_VARIABLES } from "./module-processes.ts";

const ROOT = join(import.meta.dir, "..", "..");
const DATA = join(ROOT, ".dev-data");

const env = loadEnv(
  v.object({
    DATABASE_URL: databaseUrlVariable,
    NATS_URL: natsUrlVariable,
    ...PORT_VARIABLES,
  }),
);
const DEV = `${"dev".padEnd(LOG_NAME_WIDTH)}|`;

const started: StartedService[] = [];
const services: ServiceProcess[] = [];
/** The start in hand: a Ctrl-C waits for it to finish, then stops what it started. */
let starting: Promise<unknown> | undefined;
let stopping = false;

async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${DEV} stopping…`);
  await starting?.catch(() => {});
  await Promise.all(services.map((service) => service.stop("SIGTERM")));
  for (const service of started.reverse()) {
    await service
      .stop()
      .catch((error) => console.error(`${DEV} cannot stop ${service.name}:`, error));
  }
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

try {
  for (const ensure of [
    () => ensurePostgres(env.DATABASE_URL, DATA, ROOT),
    () => ensureNats(env.NATS_URL, DATA, ROOT),
  ]) {
    if (stopping) break;
    starting = ensure().then((service) => {
      if (!service) return;
      started.push(service);
      console.log(`${DEV} started ${service.name}`);
    });
    await starting;
  }
  if (!stopping) await ensureDatabaseExists(env.DATABASE_URL);

  const common = { DATABASE_URL: env.DATABASE_URL, NATS_URL: env.NATS_URL };
  // One at a time, each kept as soon as it runs: if Orders cannot start, Sales is stopped too.
  // They share this terminal's process group, so a Ctrl-C reaches them too, and each stops itself.
  for (const module of MODULE_PROCESSES) {
    if (stopping) break;
    starting = startServiceProcess({
      name: module.name,
      entry: `${module.name}/main.ts`,
      env: common,
      port: env[module.portVariable],
      echo: true,
      echoNameWidth: LOG_NAME_WIDTH,
    }).then((service) => void services.push(service));
    await starting;
  }
  if (!stopping) {
    const titleWidth = Math.max(...MODULE_PROCESSES.map((module) => module.title.length));
    for (const module of MODULE_PROCESSES) {
      const url = `http://127.0.0.1:${env[module.portVariable]}`;
      console.log(`${DEV} ${module.title.padEnd(titleWidth)} on ${url}   (${module.serves})`);
    }
    console.log(`${DEV} Ctrl-C stops everything this command started.`);
  }
} catch (error) {
  if (!stopping) console.error(`${DEV} ${error instanceof Error ? error.message : String(error)}`);
  await stopAll(1);
}
