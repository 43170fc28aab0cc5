import { closeDatabase, createDatabase, migrate } from "shared";
import { readOrdersEnv } from "./env.ts";
import { MIGRATIONS } from "./main.ts";

const env = readOrdersEnv();
const sql = createDatabase(env.DATABASE_URL, { name: "orders-migrate", max: 1 });
const { applied } = await migrate(sql, MIGRATIONS);
console.log(`orders: ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}`);
await closeDatabase(sql);
