import { type LocalNatsServer, startNatsServer } from "../processes/nats-server.ts";
import { type LocalPostgresServer, startPostgresServer } from "../processes/postgres-server.ts";
import { checkInvariants, type InvariantReport } from "./invariants.ts";
import { installApplyAudit, type SystemUnderTest, startSystem } from "./system-under-test.ts";

export type FaultSystem = SystemUnderTest & {
  natsServer: LocalNatsServer;
  postgresServer: LocalPostgresServer | undefined;
  checkInvariants(): Promise<InvariantReport>;
};

/**
 * The system on servers a fault test may kill: a throwaway `nats-server -js` and, with
 * `ownPostgres`, a throwaway Postgres cluster; without it, a test database on the machine's
 * Postgres, which the test must never stop.
 */
export async function startFaultSystem({
  ownPostgres = false,
  env = {},
}: {
  ownPostgres?: boolean;
  env?: Record<string, string>;
} = {}): Promise<FaultSystem> {
  const natsServer = await startNatsServer();
  let postgresServer: LocalPostgresServer | undefined;
  let system: SystemUnderTest | undefined;
  try {
    postgresServer = ownPostgres ? await startPostgresServer() : undefined;
    system = await startSystem({
      natsUrl: natsServer.url,
      ...(postgresServer ? { adminDatabaseUrl: postgresServer.url } : {}),
      env,
    });
    await installApplyAudit(system.sql);
  } catch (error) {
    // The caller never gets a system to dispose: what started must stop here.
    await system?.dispose();
    await postgresServer?.dispose();
    await natsServer.dispose();
    throw error;
  }
  return {
    ...system,
    natsServer,
    postgresServer,
    checkInvariants: () => checkInvariants(system),
    async dispose() {
      await system.dispose();
      await natsServer.dispose();
      await postgresServer?.dispose();
    },
  };
}

/** One line for the CI log: what a scenario did and what it found. */
export function reportScenario(name: string, faults: string, report: InvariantReport) {
  console.log(
    `fault scenario "${name}": ${faults}; ${report.events} events for ${report.products} products, ` +
      `${report.streamMessages} stream messages, lost ${report.lost}, applied twice ${report.appliedTwice}`,
  );
}
