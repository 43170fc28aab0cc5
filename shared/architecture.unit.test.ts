import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  checkArchitecture,
  formatViolations,
  MODULES,
  PACKAGES,
  REPOSITORY_ROOT,
  readRepositorySources,
  type SourceFile,
} from "./architecture.ts";
import { scanImports } from "./import-scanner.ts";

const repository = await readRepositorySources(REPOSITORY_ROOT);

describe("the repository", () => {
  test("keeps every module boundary", () => {
    const violations = checkArchitecture(repository);
    expect(formatViolations(violations)).toBe("");
  });

  test("has no package the checker does not read: each is a workspace, type-checked, in MODULES", async () => {
    const folders = await Array.fromAsync(
      new Bun.Glob("*/package.json").scan({ cwd: REPOSITORY_ROOT }),
    );
    const packages = folders.map((path) => path.split("/")[0]).sort();
    expect(packages).toEqual([...PACKAGES].sort());
    const manifest = await Bun.file(join(REPOSITORY_ROOT, "package.json")).json();
    expect([...manifest.workspaces].sort()).toEqual([...PACKAGES].sort());
    const tsconfig = await Bun.file(join(REPOSITORY_ROOT, "tsconfig.json")).json();
    expect([...tsconfig.include].sort()).toEqual([...PACKAGES].sort());
  });

  test("has no import aliases, which would take a specifier where the checker cannot see", async () => {
    const tsconfig = await Bun.file(join(REPOSITORY_ROOT, "tsconfig.json")).json();
    expect(Object.keys(tsconfig.compilerOptions)).not.toContainAnyValues(["paths", "baseUrl"]);
    for (const manifest of ["package.json", ...PACKAGES.map((name) => `${name}/package.json`)]) {
      const { imports } = await Bun.file(join(REPOSITORY_ROOT, manifest)).json();
      expect({ manifest, imports }).toEqual({ manifest, imports: undefined });
    }
  });

  test("is what the checker reads (the rules are not vacuous)", async () => {
    const paths = repository.map((file) => file.path);
    const glob = new Bun.Glob(`{${PACKAGES.join(",")}}/**/*.{ts,tsx,mts,cts,js,mjs,cjs}`);
    const sources = (await Array.fromAsync(glob.scan({ cwd: REPOSITORY_ROOT }))).filter(
      (path) => !/(^|\/)(node_modules|fixtures)\//.test(path),
    );
    expect(sources.length).toBeGreaterThan(100);
    expect(paths.sort()).toEqual(sources.sort());
    for (const folder of ["contracts/", "shared/", "sales/domain/", "orders/domain/"]) {
      expect(paths.some((path) => path.startsWith(folder))).toBe(true);
    }
  });

  test("each package imports only the npm packages its package.json declares", async () => {
    // Production code may use `dependencies` only (the image installs nothing else); tests and
    // their support code may also use `devDependencies`.
    const isTestCode = (path: string) => /\.test\.ts$|\/(testing|e2e)\//.test(path);
    const undeclared: string[] = [];
    for (const name of PACKAGES) {
      const manifest = await Bun.file(join(REPOSITORY_ROOT, name, "package.json")).json();
      const production = Object.keys(manifest.dependencies ?? {});
      const development = Object.keys(manifest.devDependencies ?? {});
      for (const file of repository.filter((f) => f.path.startsWith(`${name}/`))) {
        const declared = new Set([
          name,
          ...production,
          ...(isTestCode(file.path) ? development : []),
        ]);
        for (const { line, specifier } of scanImports(file.text)) {
          if (specifier.startsWith(".") || /^(node:|bun:|bun$)/.test(specifier)) continue;
          const packageName = specifier.startsWith("@")
            ? specifier.split("/").slice(0, 2).join("/")
            : (specifier.split("/")[0] ?? specifier);
          if (!declared.has(packageName)) undeclared.push(`${file.path}:${line} → ${specifier}`);
        }
      }
    }
    expect(undeclared.join("\n")).toBe("");
  });

  test("package.json dependencies keep the module boundaries", async () => {
    const dependencies = async (name: string) =>
      Object.keys(
        (await Bun.file(join(REPOSITORY_ROOT, name, "package.json")).json()).dependencies ?? {},
      );
    expect(await dependencies("contracts")).toEqual(["valibot"]);
    for (const name of [...MODULES, "contracts"]) {
      expect(await dependencies("shared")).not.toContain(name);
    }
    for (const module of MODULES) {
      const others: string[] = MODULES.filter((other) => other !== module);
      expect((await dependencies(module)).filter((name) => others.includes(name))).toEqual([]);
    }
  });
});

function violationsIn(path: string, text: string): string {
  return formatViolations(checkArchitecture([{ path, text } satisfies SourceFile]));
}

describe("the checker catches a planted violation", () => {
  const salesFile = "../../sales/domain/product.ts";
  const importForms: [string, string][] = [
    ["a static import", `import { createProduct } from "${salesFile}";`],
    ["a type-only import", `import type { Product } from "${salesFile}";`],
    ["an inline type import", `import { type Product } from "${salesFile}";`],
    ["a re-export", `export { createProduct } from "${salesFile}";`],
    ["a star re-export", `export * from "${salesFile}";`],
    ["a side-effect import", `import "${salesFile}";`],
    ["a dynamic import", `const module = await import("${salesFile}");`],
    ["a dynamic import with a template", `await import(\`${salesFile}\`);`],
    ["a require", `const module = require("${salesFile}");`],
    ["an import-equals require", `import product = require("${salesFile}");`],
    ["a type query", `type P = typeof import("${salesFile}");`],
    ["a multi-line import", `import {\n  a,\n  b,\n} from "${salesFile}";`],
    ["import.meta.require", `import.meta.require("${salesFile}");`],
    ["import.meta.resolve", `const path = import.meta.resolve("${salesFile}");`],
    ["a worker", `new Worker("${salesFile}");`],
    ["a worker's URL", `new Worker(new URL("${salesFile}", import.meta.url).href);`],
  ];
  test.each(importForms)("orders → sales by %s", (_, code) => {
    const report = violationsIn("orders/api/orders.ts", `// leading comment\n${code}`);
    expect(report).toContain("orders/api/orders.ts:");
    expect(report).toContain("→ sales/domain/product.ts (orders never references sales)");
  });

  test("orders → sales through an escape in the specifier", () => {
    expect(violationsIn("orders/x.ts", 'import "../\\u0073ales/domain/product.ts";')).toContain(
      "→ sales/domain/product.ts (orders never references sales)",
    );
  });

  test.each([
    ["a template with a placeholder", `await import(\`../sales/\${layer}/product.ts\`);`],
    ["a variable", "await import(path);"],
    ["a specifier in brackets", 'await import(("../sales/domain/product.ts"));'],
    ["a resolved URL", 'await import(import.meta.resolve("../sales/domain/product.ts"));'],
    ["a concatenation", 'require("../sales/" + "domain/product.ts");'],
    ["require, not called on the spot", 'const load = require;\nload("../sales/x.ts");'],
    ["require, called optionally", 'require?.("../sales/domain/product.ts");'],
    ["createRequire", 'createRequire(import.meta.url)("../sales/domain/product.ts");'],
    ["a worker of a variable", "new Worker(path);"],
    ["a URL built against the file", 'new URL("../sales/" + name, import.meta.url);'],
  ])("a computed specifier in a module is refused: %s", (_, code) => {
    expect(violationsIn("orders/x.ts", code)).toContain(
      "orders/x.ts:1 → (computed) (a module names what it imports",
    );
  });

  test("a relative path that leaves the repository is refused, wherever it comes back", () => {
    expect(violationsIn("orders/x.ts", 'import "../../main/sales/domain/product.ts";')).toContain(
      "(references stay inside the repository)",
    );
  });

  test.each([
    ["an absolute path", 'import "/srv/app/sales/domain/product.ts";'],
    ["a file URL", 'import "file:///srv/app/sales/domain/product.ts";'],
  ])("%s is refused: it can reach any file", (_, code) => {
    expect(violationsIn("orders/x.ts", code)).toContain("(references stay inside the repository)");
  });

  test("a regex after a condition does not hide the import below it", () => {
    const code = 'if (ok) /`"/.test(s);\nimport "../sales/domain/product.ts";\n// `';
    expect(violationsIn("orders/x.ts", code)).toContain(
      "orders/x.ts:2 → sales/domain/product.ts (orders never references sales)",
    );
    expect(scanImports("const half = (a + b) / 2; // `\nimport 'x';")).toEqual([
      { line: 2, specifier: "x" },
    ]);
  });

  test("a module's production code takes no test support; its tests and testing/ may", () => {
    const code = 'import { waitFor } from "shared/testing/test-environment.ts";';
    expect(violationsIn("orders/api/orders.ts", code)).toContain(
      "(orders production code takes no test support",
    );
    expect(violationsIn("sales/main.ts", 'import "shared/processes/nats-server.ts";')).toContain(
      "(sales production code takes no test support",
    );
    expect(violationsIn("orders/api/orders.int.test.ts", code)).toBe("");
    expect(violationsIn("orders/testing/orders-under-test.ts", code)).toBe("");
  });

  test("a URL that is not resolved against the file is no reference", () => {
    expect(violationsIn("orders/x.ts", 'new URL("/products", baseUrl);')).toBe("");
  });

  test("orders → sales by package name, naming the line", () => {
    expect(
      violationsIn("orders/main.ts", 'import x from "a";\nimport type { P } from "sales";'),
    ).toBe("orders/main.ts:2 → sales (orders never references sales)");
    expect(violationsIn("orders/main.ts", 'await import("sales/domain/product.ts");')).toContain(
      "orders never references sales",
    );
  });

  test("lists every offending edge, not just the first", () => {
    const report = violationsIn(
      "orders/application/x.ts",
      'import type { A } from "sales";\nimport { B } from "../../sales/api/products.ts";\n',
    );
    expect(report.split("\n")).toEqual([
      "orders/application/x.ts:1 → sales (orders never references sales)",
      "orders/application/x.ts:2 → sales/api/products.ts (orders never references sales)",
    ]);
  });

  test("sales → orders", () => {
    expect(
      violationsIn("sales/main.ts", 'import type { Order } from "../orders/domain/order.ts";'),
    ).toBe("sales/main.ts:1 → orders/domain/order.ts (sales never references orders)");
  });

  test("contracts → anything but valibot", () => {
    expect(
      violationsIn("contracts/x.ts", 'import * as v from "valibot";\nimport "./envelope.ts";'),
    ).toBe("");
    expect(violationsIn("contracts/x.ts", 'import type { Sql } from "shared";')).toContain(
      "contracts/x.ts:1 → shared (contracts references nothing but valibot)",
    );
    expect(violationsIn("contracts/x.ts", 'import { z } from "zod";')).toContain("→ zod");
    expect(
      violationsIn("contracts/x.ts", 'import { p } from "../sales/domain/product.ts";'),
    ).toContain("→ sales/domain/product.ts");
    expect(violationsIn("contracts/x.ts", 'import { test } from "bun:test";')).toContain(
      "→ bun:test",
    );
    expect(violationsIn("contracts/x.test.ts", 'import { test } from "bun:test";')).toBe("");
  });

  test("shared → a module package", () => {
    for (const target of ["contracts", "sales", "orders", "../orders/main.ts"]) {
      expect(violationsIn("shared/x.ts", `import type { X } from "${target}";`)).toContain(
        "(shared references no module package)",
      );
    }
  });

  test("domain → infrastructure", () => {
    const planted: [string, string][] = [
      ["postgres", 'import type postgres from "postgres";'],
      ["@nats-io/jetstream", 'import type { JsMsg } from "@nats-io/jetstream";'],
      ["hono", 'import { Hono } from "hono";'],
      ["hono/validator", 'import { validator } from "hono/validator";'],
      ["orders/infrastructure/x.ts", 'import type { X } from "../infrastructure/x.ts";'],
      ["orders/api/x.ts", 'export { y } from "../api/x.ts";'],
      ["shared", 'import { UnprocessableError } from "shared";'],
      ["shared/nats.ts", 'import { natsNames } from "shared/nats.ts";'],
      ["shared/outbox", 'import { startOutboxRelay } from "shared/outbox";'],
      ["shared/inbox", 'import { readStream } from "shared/inbox";'],
      ["node:fs", 'import { readFileSync } from "node:fs";'],
      ["fs/promises", 'import { readFile } from "fs/promises";'],
      ["bun", 'import { $ } from "bun";'],
      ["bun:sqlite", 'import { Database } from "bun:sqlite";'],
    ];
    for (const [target, code] of planted) {
      expect(violationsIn("orders/domain/order.ts", code)).toBe(
        `orders/domain/order.ts:1 → ${target} (orders/domain references no infrastructure)`,
      );
    }
    expect(violationsIn("sales/domain/product.ts", 'import * as v from "valibot";')).toBe("");
    expect(
      violationsIn("sales/domain/product.unit.test.ts", 'import { test } from "bun:test";'),
    ).toBe("");
    expect(
      violationsIn("sales/domain/product.ts", 'import { parseOrThrow } from "shared/validation";'),
    ).toBe("");
  });

  test("a module reaching into shared or contracts by a relative path", () => {
    expect(violationsIn("sales/api/x.ts", 'import { x } from "../../shared/http.ts";')).toBe(
      "sales/api/x.ts:1 → shared/http.ts (sales imports shared and contracts by their names, through their doors)",
    );
    expect(violationsIn("orders/x.ts", 'import { x } from "../contracts/parse.ts";')).toBe(
      "orders/x.ts:1 → contracts/parse.ts (orders imports shared and contracts by their names, through their doors)",
    );
    expect(
      violationsIn("orders/main.ts", 'import { readStream } from "../shared/inbox/index.ts";'),
    ).toBe(
      "orders/main.ts:1 → shared/inbox/index.ts (orders imports shared and contracts by their names, through their doors)",
    );
    expect(
      violationsIn(
        "orders/x.test.ts",
        'import { waitFor } from "shared/testing/test-environment.ts";',
      ),
    ).toBe("");
    expect(violationsIn("sales/main.ts", 'import { startOutboxRelay } from "shared/outbox";')).toBe(
      "",
    );
    expect(
      violationsIn(
        "sales/main.ts",
        'import { startOutboxRelay } from "../shared/outbox/relay.ts";',
      ),
    ).toBe(
      "sales/main.ts:1 → shared/outbox/relay.ts (sales imports shared and contracts by their names, through their doors)",
    );
  });

  test("is not fooled by comments or strings that look like imports", () => {
    const code = [
      '// import x from "sales";',
      '/* export * from "sales"; */',
      'const text = "see from \\"sales\\"";',
      "const pattern = /from 'sales'/;",
      'const message = `import("sales")`;',
    ].join("\n");
    expect(violationsIn("orders/main.ts", code)).toBe("");
  });
});
