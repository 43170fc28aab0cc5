/**
 * Waits until Postgres answers at DATABASE_URL and NATS at NATS_URL has JetStream enabled;
 * exits 1 naming what is missing after WAIT_SECONDS (60 by default). Used by `.ci/run`.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import * as v from "valibot";
import { databaseUrlVariable, loadEnv, natsUrlVariable } from "../env.ts";
import { connectNats } from "../nats.ts";
import { postgresAnswers } from "./infrastructure-services.ts";

const env = loadEnv(
  v.object({
    DATABASE_URL: databaseUrlVariable,
    NATS_URL: natsUrlVariable,
    WAIT_SECONDS: v.optional(v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number)), "60"),
  }),
);

async function jetStreamAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connectNats(url, "ci-probe");
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

const deadline = Date.now() + env.WAIT_SECONDS * 1000;
let missing: string[] = [];
while (Date.now() < deadline) {
  const [postgres, jetstream] = await Promise.all([
    postgresAnswers(env.DATABASE_URL),
    jetStreamAnswers(env.NATS_URL),
  ]);
  missing = [
    ...(postgres ? [] : [`Postgres at ${env.DATABASE_URL}`]),
    ...(jetstream ? [] : [`NATS JetStream at ${env.NATS_URL}`]),
  ];
  if (missing.length === 0) {
    console.log("services: Postgres and NATS JetStream answer");
    process.exit(0);
  }
  await Bun.sleep(500);
}
console.error(`services: no answer from ${missing.join(" and ")}`);
process.exit(1);
