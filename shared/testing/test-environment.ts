import { setDefaultTimeout } from "bun:test";
import * as v from "valibot";
import { closeDatabase, createDatabase, type Sql } from "../database.ts";
import { databaseUrlVariable, natsUrlVariable, parseEnv } from "../env.ts";
import { afterTests } from "./cleanup.ts";

/** Where the test servers are: the same variables the processes read. */
export const testEnv = parseEnv(
  v.object({ DATABASE_URL: databaseUrlVariable, NATS_URL: natsUrlVariable }),
  process.env,
);

/** A short random id for names that must not collide across test files and runs. */
export function uniqueId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

export type TestDatabase = { name: string; url: string; sql: Sql; drop(): Promise<void> };

/**
 * A fresh database on the test server, dropped when the file's tests are done: each test file
 * works in isolation from a running dev stack and from the other files.
 */
export async function useTestDatabase(adminUrl = testEnv.DATABASE_URL): Promise<TestDatabase> {
  const database = await createTestDatabase(adminUrl);
  afterTests(database.drop);
  return database;
}

/**
 * Gives the tests of the file being loaded 30 s instead of Bun's 5: integration tests start
 * processes and wait on real servers. Called by the helpers every such file uses, because
 * `setDefaultTimeout` reaches only the file it runs in (from a preload, only the first file).
 */
export function useIntegrationTimeout(): void {
  setDefaultTimeout(30_000);
}

/** A fresh database; the caller drops it (after stopping whatever uses it). */
export async function createTestDatabase(adminUrl = testEnv.DATABASE_URL): Promise<TestDatabase> {
  useIntegrationTimeout();
  const name = `test_${uniqueId()}`;
  const admin = createDatabase(adminUrl, { name: "test-admin", max: 1 });
  await admin.unsafe(`create database ${name}`);
  await closeDatabase(admin);

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const sql = createDatabase(url.toString(), { name: "test" });
  async function drop() {
    await closeDatabase(sql);
    const dropper = createDatabase(adminUrl, { name: "test-admin", max: 1 });
    await dropper.unsafe(`drop database if exists ${name} with (force)`);
    await closeDatabase(dropper);
  }
  return { name, url: url.toString(), sql, drop };
}

/** Polls `check` until it returns a truthy value, or fails with `message` after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  { timeoutMs = 10_000, intervalMs = 20, message = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await Bun.sleep(intervalMs);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${message}`, { cause: lastError });
}
