/**
 * Waits until Postgres answers at DATABASE_URL and NATS at NATS_URL has JetStream enabled;
 * exits 1 naming what is missing after WAIT_SECONDS (60 by default). Used by `.ci/run`.
 */
import * as v from "valibot";
import { databaseUrlVariable, loadEnv, natsUrlVariable, redactUrls } from "../env.ts";
import { type Probe, probeNats, probePostgres } from "./infrastructure-services.ts";

const env = loadEnv(
  v.object({
    DATABASE_URL: databaseUrlVariable,
    NATS_URL: natsUrlVariable,
    WAIT_SECONDS: v.optional(v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number)), "60"),
  }),
);

const deadline = Date.now() + env.WAIT_SECONDS * 1000;
for (;;) {
  const [postgres, jetstream] = await Promise.all([
    probePostgres(env.DATABASE_URL),
    probeNats(env.NATS_URL),
  ]);
  const why = (probe: Probe) => (probe.state === "refused" ? ` (${probe.reason})` : "");
  const missing = [
    ...(postgres.state === "up"
      ? []
      : [`Postgres at ${redactUrls(env.DATABASE_URL)}${why(postgres)}`]),
    ...(jetstream.state === "up"
      ? []
      : [`NATS JetStream at ${redactUrls(env.NATS_URL)}${why(jetstream)}`]),
  ];
  if (missing.length === 0) {
    console.log("services: Postgres and NATS JetStream answer");
    process.exit(0);
  }
  if (Date.now() >= deadline) {
    console.error(`services: no answer from ${missing.join(" and ")}`);
    process.exit(1);
  }
  await Bun.sleep(500);
}
