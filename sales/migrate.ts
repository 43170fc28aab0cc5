import { closeDatabase, createDatabase, migrate } from "shared";
import { readSalesEnv } from "./env.ts";
import { MIGRATIONS } from "./main.ts";

const env = readSalesEnv();
const sql = createDatabase(env.DATABASE_URL, { name: "sales-migrate", max: 1 });
const { applied } = await migrate(sql, MIGRATIONS);
console.log(`sales: ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}`);
await closeDatabase(sql);
