import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MODULES, PACKAGES } from "./architecture.ts";

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
    expect(nats.command).toContain("-js");
    expect(nats.command).toContain("-m");
    // To this host only: it asks no credentials.
    expect(nats.ports).toEqual(["127.0.0.1:4222:4222", "127.0.0.1:8222:8222"]);
    expect(nats.healthcheck?.test.join(" ")).toContain("js-enabled-only=true");
  });

  test("exposes Postgres and checks it with pg_isready", () => {
    const postgres = services.postgres as Service;
    expect(postgres.ports).toContain("127.0.0.1:5432:5432");
    expect(postgres.healthcheck?.test.join(" ")).toContain("pg_isready -h 127.0.0.1");
    // `bun run dev` connects from the host with DATABASE_URL's default, which has no password.
    expect(postgres.environment?.POSTGRES_HOST_AUTH_METHOD).toBe("trust");
  });

  test.each([
    ["sales", "3001", "sales/main.ts"],
    ["orders", "3002", "orders/main.ts"],
  ])(
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
    expect(services.orders?.build).toEqual(services.sales?.build as never);
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
