import { migrateDatabase } from "shared";
import { readSalesEnv } from "./env.ts";
import { MIGRATIONS } from "./main.ts";

const { applied } = await migrateDatabase(readSalesEnv().DATABASE_URL, MIGRATIONS);
console.log(`sales: ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}`);
