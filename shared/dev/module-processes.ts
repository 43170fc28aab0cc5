import { MODULES } from "../architecture.ts";
import { portVariable } from "../env.ts";

type Module = (typeof MODULES)[number];
type PortVariable = `${Uppercase<Module>}_PORT`;

/**
 * What `bun run dev` needs of each module: its port's default and what it serves. A module added
 * to `MODULES` fails the typecheck here until it has its entry.
 */
export const DEV_SETTINGS: Record<Module, { defaultPort: number; serves: string }> = {
  sales: { defaultPort: 3001, serves: "POST /products, PATCH /products/:id" },
  orders: { defaultPort: 3002, serves: "GET /products/:id, POST /orders" },
};

/** The processes `bun run dev` runs, one per module, in the order of `MODULES`. */
export const MODULE_PROCESSES = MODULES.map((name) => ({
  name,
  title: name.charAt(0).toUpperCase() + name.slice(1),
  /** The setting of its port: `SALES_PORT`, `ORDERS_PORT`, … */
  portVariable: `${name.toUpperCase()}_PORT` as PortVariable,
  ...DEV_SETTINGS[name],
}));

/** The port settings, as `loadEnv` takes them. */
export const PORT_VARIABLES = Object.fromEntries(
  MODULE_PROCESSES.map((module) => [module.portVariable, portVariable(module.defaultPort)]),
) as Record<PortVariable, ReturnType<typeof portVariable>>;

/** The dev log's name column: as wide as the longest process name (`dev` too) and a space. */
export const LOG_NAME_WIDTH = Math.max(...["dev", ...MODULES].map((name) => name.length)) + 1;
