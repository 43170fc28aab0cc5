import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MODULES, PACKAGES } from "./architecture.ts";
import { MODULE_PROCESSES } from "./dev/module-processes.ts";

// No Docker engine runs in CI: this reads compose.yaml and checks what `docker compose up`
// depends on, so the file cannot silently rot.
const root = join(import.meta.dir, "..");
type Service = {
  image?: string;
  build?: { context: string; dockerfile_inline: string };
  command?: string[];
  restart?: string;
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
};
const compose = Bun.YAML.parse(await Bun.file(join(root, "compose.yaml")).text()) as {
  services: Record<string, Service>;
};
const services = compose.services;

describe("compose.yaml", () => {
  test("has Postgres, NATS and a service per module", () => {
    expect(Object.keys(services).sort()).toEqual(["nats", "postgres", ...MODULES].sort());
  });

  test("runs NATS with JetStream, its client port and its monitoring port", () => {
    const nats = services.nats as Service;
    const command = nats.command ?? [];
    expect(command).toContain("-js");
    expect(command.join(" ")).not.toMatch(/(js|jetstream)(=|\s+)false/);
    const monitoring = command[command.indexOf("-m") + 1];
    expect(monitoring).toBe("8222");
    // To this host only: it asks no credentials.
    expect(nats.ports).toEqual(["127.0.0.1:4222:4222", `127.0.0.1:${monitoring}:${monitoring}`]);
    expect(nats.healthcheck?.test.join(" ")).toContain(
      `http://127.0.0.1:${monitoring}/healthz?js-enabled-only=true`,
    );
  });

  test("keeps NATS' streams and Postgres' data in volumes, where each image writes them", () => {
    const nats = services.nats as Service;
    const command = nats.command ?? [];
    const storeDirectory = command[command.indexOf("-sd") + 1];
    expect(command).toContain("-sd");
    expect(nats.volumes).toEqual([`nats-data:${storeDirectory}`]);
    // The code needs JetStream as nats-server 2.9 has it (see "The machine" in the handbook).
    const natsVersion = /^nats:(\d+)\.(\d+)/.exec(nats.image ?? "");
    expect(natsVersion).not.toBeNull();
    expect(Number(natsVersion?.[1]) * 100 + Number(natsVersion?.[2])).toBeGreaterThanOrEqual(209);

    const postgres = services.postgres as Service;
    const major = Number(/^postgres:(\d+)/.exec(postgres.image ?? "")?.[1]);
    expect(major).toBeGreaterThanOrEqual(14);
    // From 18 on, the image keeps its data one level up, under a folder per major version.
    const dataDirectory = major >= 18 ? "/var/lib/postgresql" : "/var/lib/postgresql/data";
    expect(postgres.volumes).toEqual([`postgres-data:${dataDirectory}`]);
  });

  test("gives every module the same database and NATS, and nothing that changes their defaults", () => {
    const postgres = services.postgres as Service;
    const database = postgres.environment?.POSTGRES_DB ?? postgres.environment?.POSTGRES_USER;
    for (const module of MODULES) {
      const { PORT, ...environment } = services[module]?.environment ?? {};
      expect({ module, environment }).toEqual({
        module,
        environment: {
          // The image's own database; each module keeps to its schema (and role) in it.
          DATABASE_URL: `postgres://postgres:postgres@postgres:5432/${database ?? "postgres"}`,
          // One namespace (none): a module on another would never see the other's events.
          NATS_URL: "nats://nats:4222",
          LOG_LEVEL: "info",
        },
      });
    }
  });

  test("exposes Postgres and checks it with pg_isready", () => {
    const postgres = services.postgres as Service;
    expect(postgres.ports).toContain("127.0.0.1:5432:5432");
    expect(postgres.healthcheck?.test.join(" ")).toContain("pg_isready -h 127.0.0.1");
    // `bun run dev` connects from the host with DATABASE_URL's default, which has no password.
    expect(postgres.environment?.POSTGRES_HOST_AUTH_METHOD).toBe("trust");
  });

  test.each(
    MODULE_PROCESSES.map(({ name, defaultPort }) => [name, String(defaultPort), `${name}/main.ts`]),
  )(
    "builds %s from the repository and starts it once its dependencies are healthy",
    (name, port, entry) => {
      const service = services[name] as Service;
      expect(service.build).toBeDefined();
      expect(service.command).toEqual(["bun", entry]);
      expect(service.restart).toBe("on-failure"); // e.g. its start-up migration met a restart
      expect(service.environment?.PORT).toBe(port);
      expect(service.environment?.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
      expect(service.environment?.NATS_URL).toBe("nats://nats:4222");
      // The APIs have no authentication: reachable from this host only, as Postgres and NATS.
      expect(service.ports).toEqual([`127.0.0.1:${port}:${port}`]);
      expect(service.depends_on?.postgres?.condition).toBe("service_healthy");
      expect(service.depends_on?.nats?.condition).toBe("service_healthy");
      expect(service.healthcheck?.test.join(" ")).toContain(`127.0.0.1:${port}/ready`);
    },
  );

  test("the image copies every workspace package and installs from the lock file", async () => {
    const dockerfile = services.sales?.build?.dockerfile_inline ?? "";
    for (const module of MODULES)
      expect(services[module]?.build).toEqual(services.sales?.build as never);
    for (const folder of PACKAGES) {
      expect(dockerfile).toContain(`COPY ${folder}/package.json ${folder}/`);
      expect(dockerfile).toContain(`COPY ${folder} ${folder}`);
    }
    expect(dockerfile).toContain("bun install --frozen-lockfile");
    // bun install applies the patches package.json lists, so they must be in the image first.
    const patches = (await Bun.file(join(root, "package.json")).json()).patchedDependencies ?? {};
    for (const file of Object.values(patches) as string[]) {
      const folder = file.slice(0, file.lastIndexOf("/"));
      const copied = dockerfile.indexOf(`COPY ${folder} ${folder}`);
      expect(copied).toBeGreaterThanOrEqual(0);
      expect(copied).toBeLessThan(dockerfile.indexOf("RUN bun install"));
    }
    const pinned = (await Bun.file(join(root, "package.json")).json()).packageManager as string;
    expect(dockerfile).toContain(`oven/bun:${pinned.replace("bun@", "")}`);
  });
});
