import { readdir } from "node:fs/promises";
import { builtinModules } from "node:module";
import { dirname, join, normalize } from "node:path";
import { COMPUTED_SPECIFIER, scanImports } from "./import-scanner.ts";

/** A source file, its path relative to the repository root with `/` separators. */
export type SourceFile = { path: string; text: string };

/** One reference from a file to a module: a repository file or an npm package. */
export type Edge = { from: string; line: number; specifier: string; target: string };

export type Rule = {
  name: string;
  /** Which files the rule looks at. */
  appliesTo: (path: string) => boolean;
  /** True when the reference breaks the rule. */
  forbids: (edge: Edge) => boolean;
};

export type Violation = { rule: string; edge: Edge };

/** The modules: a new one joins here, and every rule below covers it. */
export const MODULES = ["sales", "orders"] as const;
/** The workspace packages the checker reads: the modules, `contracts` and `shared`. */
export const PACKAGES = [...MODULES, "contracts", "shared"] as const;
const INFRASTRUCTURE_PACKAGES = /^(postgres|pino|hono|nats|@nats-io\/[\w.-]+)(\/|$)/;
/** The runtime's own modules (`node:fs`, `fs`, `bun`, `bun:sqlite`): files, sockets, processes. */
const isRuntimeModule = (target: string) =>
  /^(node|bun):/.test(target) ||
  target === "bun" ||
  builtinModules.includes(target.split("/")[0] ?? target);
/** What of `shared` a domain may import: its errors and validation, nothing that does I/O. */
const DOMAIN_SAFE_SHARED = ["shared/errors", "shared/validation"];

const inFolder = (folder: string) => (path: string) => path.startsWith(`${folder}/`);
const isTest = (path: string) => /\.test\.[cm]?[jt]sx?$/.test(path);
/** Tests and what only they use: a module's `testing/` folder. */
const isTestCode = (path: string) => isTest(path) || /(^|\/)testing\//.test(path);
/** `sales/x.ts` and the package name `sales` (or `sales/…`) both count as "in sales". */
const targetsPackage = (name: string) => (edge: Edge) =>
  edge.target === name || edge.target.startsWith(`${name}/`);

/** The module boundaries (README "Layout"), as checkable rules. */
export const RULES: Rule[] = [
  ...MODULES.flatMap((module) =>
    MODULES.filter((other) => other !== module).map((other) => ({
      name: `${module} never references ${other}`,
      appliesTo: inFolder(module),
      forbids: targetsPackage(other),
    })),
  ),
  {
    name: "contracts references nothing but valibot",
    appliesTo: inFolder("contracts"),
    forbids: (edge) =>
      !(
        edge.target === "valibot" ||
        targetsPackage("contracts")(edge) ||
        (isTest(edge.from) && edge.target === "bun:test")
      ),
  },
  {
    name: "shared references no module package",
    appliesTo: inFolder("shared"),
    forbids: (edge) => [...MODULES, "contracts"].some((name) => targetsPackage(name)(edge)),
  },
  {
    name: "a module names what it imports (a computed specifier cannot be checked)",
    appliesTo: (path) => [...MODULES, "contracts"].some((name) => inFolder(name)(path)),
    forbids: (edge) => edge.specifier === COMPUTED_SPECIFIER,
  },
  ...MODULES.map((module) => ({
    name: `${module} imports shared and contracts by their names, through their doors`,
    appliesTo: inFolder(module),
    forbids: (edge: Edge) =>
      edge.specifier.startsWith(".") &&
      (targetsPackage("shared")(edge) || targetsPackage("contracts")(edge)),
  })),
  ...MODULES.map((module) => ({
    name: `${module} production code takes no test support (shared/testing, shared/processes)`,
    appliesTo: (path: string) => inFolder(module)(path) && !isTestCode(path),
    forbids: (edge: Edge) =>
      ["shared/testing", "shared/processes"].some(
        (door) => edge.target === door || edge.target.startsWith(`${door}/`),
      ),
  })),
  {
    name: "references stay inside the repository",
    appliesTo: (path) => PACKAGES.some((name) => inFolder(name)(path)),
    // An absolute path or a `file:` URL reaches any file, the other modules' too.
    forbids: (edge) => edge.target.startsWith("../") || /^(\/|file:)/i.test(edge.target),
  },
  ...MODULES.map((module) => ({
    name: `${module}/domain references no infrastructure`,
    appliesTo: inFolder(`${module}/domain`),
    forbids: (edge: Edge) =>
      INFRASTRUCTURE_PACKAGES.test(edge.target) ||
      (isRuntimeModule(edge.target) && !(isTest(edge.from) && edge.target === "bun:test")) ||
      // The shared index pulls in Postgres, NATS and Hono; the domain takes only these parts.
      (targetsPackage("shared")(edge) && !DOMAIN_SAFE_SHARED.includes(edge.target)) ||
      ["infrastructure", "api", "application", "integration"].some((layer) =>
        edge.target.startsWith(`${module}/${layer}/`),
      ),
  })),
];

/**
 * Where a specifier points: a repository path (`sales/domain/product.ts`) for relative
 * specifiers, otherwise the package name as written (`postgres`, `contracts`, `node:fs`).
 */
export function resolveTarget(from: string, specifier: string): string {
  if (!specifier.startsWith(".")) return specifier;
  return normalize(join(dirname(from), specifier))
    .split("\\")
    .join("/");
}

export function edgesOf(file: SourceFile): Edge[] {
  return scanImports(file.text).map(({ line, specifier }) => ({
    from: file.path,
    line,
    specifier,
    target: resolveTarget(file.path, specifier),
  }));
}

export function checkArchitecture(files: SourceFile[], rules: Rule[] = RULES): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const applicable = rules.filter((rule) => rule.appliesTo(file.path));
    if (applicable.length === 0) continue;
    for (const edge of edgesOf(file)) {
      for (const rule of applicable)
        if (rule.forbids(edge)) violations.push({ rule: rule.name, edge });
    }
  }
  return violations;
}

/** One line per offending edge: `file:line → target (rule)`. */
export function formatViolations(violations: Violation[]): string {
  return violations
    .map(({ rule, edge }) => `${edge.from}:${edge.line} → ${edge.target} (${rule})`)
    .join("\n");
}

const SOURCE_FILE = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs)$/;

/** Every source file of the four packages, read from the repository at `root`. */
export async function readRepositorySources(root: string): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  for (const name of PACKAGES) {
    const entries = await readdir(join(root, name), { recursive: true });
    for (const entry of entries) {
      const path = `${name}/${entry.split("\\").join("/")}`;
      // The test fixtures are shared's, which no module rule looks at: a module's are checked.
      if (!SOURCE_FILE.test(path) || /(^|\/)node_modules\//.test(path)) continue;
      if (path.startsWith("shared/testing/fixtures/")) continue;
      files.push({ path, text: await Bun.file(join(root, path)).text() });
    }
  }
  return files;
}

/** The repository root, found from this file's location. */
export const REPOSITORY_ROOT = join(import.meta.dir, "..");
