/**
 * `bun run dev`: the whole stack with one command. Uses Postgres and NATS where they answer,
 * starts them otherwise (local binaries with data in `.dev-data/`, or docker compose), then runs
 * Sales and Orders with prefixed logs. Ctrl-C stops everything it started.
 */
import { join } from "node:path";
import * as v from "valibot";
import { databaseUrlVariable, loadEnv, natsUrlVariable, portVariable } from "../env.ts";
import { type ServiceProcess, startServiceProcess } from "../processes/service-process.ts";
import {
  ensureDatabaseExists,
  ensureNats,
  ensurePostgres,
  type StartedService,
} from "./infrastructure-services.ts";

const ROOT = join(import.meta.dir, "..", "..");
const DATA = join(ROOT, ".dev-data");

const env = loadEnv(
  v.object({
    DATABASE_URL: databaseUrlVariable,
    NATS_URL: natsUrlVariable,
    SALES_PORT: portVariable(3001),
    ORDERS_PORT: portVariable(3002),
  }),
);

const started: StartedService[] = [];
const services: ServiceProcess[] = [];
/** The start in hand: a Ctrl-C waits for it to finish, then stops what it started. */
let starting: Promise<unknown> | undefined;
let stopping = false;

async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  console.log("\ndev    | stopping…");
  await starting?.catch(() => {});
  await Promise.all(services.map((service) => service.stop("SIGTERM")));
  for (const service of started.reverse()) {
    await service
      .stop()
      .catch((error) => console.error(`dev    | cannot stop ${service.name}:`, error));
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
      console.log(`dev    | started ${service.name}`);
    });
    await starting;
  }
  if (!stopping) await ensureDatabaseExists(env.DATABASE_URL);

  const common = { DATABASE_URL: env.DATABASE_URL, NATS_URL: env.NATS_URL };
  // One at a time, each kept as soon as it runs: if Orders cannot start, Sales is stopped too.
  // They share this terminal's process group, so a Ctrl-C reaches them too, and each stops itself.
  for (const [name, port] of [
    ["sales", env.SALES_PORT],
    ["orders", env.ORDERS_PORT],
  ] as const) {
    if (stopping) break;
    starting = startServiceProcess({
      name,
      entry: `${name}/main.ts`,
      env: common,
      port,
      echo: true,
    }).then((service) => void services.push(service));
    await starting;
  }
  if (!stopping) {
    console.log(
      `dev    | Sales  on http://127.0.0.1:${env.SALES_PORT}   (POST /products, PATCH /products/:id)`,
    );
    console.log(
      `dev    | Orders on http://127.0.0.1:${env.ORDERS_PORT}   (GET /products/:id, POST /orders)`,
    );
    console.log("dev    | Ctrl-C stops everything this command started.");
  }
} catch (error) {
  if (!stopping)
    console.error(`dev    | ${error instanceof Error ? error.message : String(error)}`);
  await stopAll(1);
}
