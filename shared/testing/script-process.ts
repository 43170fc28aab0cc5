import { join } from "node:path";

const REPOSITORY_ROOT = join(import.meta.dir, "..", "..");

export type ScriptResult = { code: number; stdout: string; stderr: string };

/** Runs `bun <entry> ...args` (e.g. `orders/scripts/streams.ts`) as an operator would. */
export async function runScriptProcess(
  entry: string,
  args: string[],
  env: Record<string, string>,
): Promise<ScriptResult> {
  const child = Bun.spawn([process.execPath, entry, ...args], {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}
