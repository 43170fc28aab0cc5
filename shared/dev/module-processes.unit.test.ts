import { expect, test } from "bun:test";
import { join } from "node:path";
import { MODULES } from "../architecture.ts";
import { DEV_SETTINGS, MODULE_PROCESSES } from "./module-processes.ts";

// The typecheck fails first on a module missing here; this says the same where only tests run.
test("bun run dev runs a process per module, and only those", () => {
  expect(Object.keys(DEV_SETTINGS).sort()).toEqual([...MODULES].sort());
});

test("each process' default port is its module's port in compose.yaml", async () => {
  const compose = Bun.YAML.parse(
    await Bun.file(join(import.meta.dir, "..", "..", "compose.yaml")).text(),
  ) as { services: Record<string, { environment?: { PORT?: string } }> };
  const portInCompose = (name: string) => Number(compose.services[name]?.environment?.PORT);
  for (const { name, defaultPort } of MODULE_PROCESSES)
    expect({ name, defaultPort }).toEqual({ name, defaultPort: portInCompose(name) });
});
