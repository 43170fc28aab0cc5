import { migrateDatabase } from "shared";
import { readOrdersEnv } from "./env.ts";
import { MIGRATIONS } from "./main.ts";

const { applied } = await migrateDatabase(readOrdersEnv().DATABASE_URL, MIGRATIONS);
console.log(`orders: ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}`);
