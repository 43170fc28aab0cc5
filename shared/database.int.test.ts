import { afterAll, expect, test } from "bun:test";
import { closeDatabase, createDatabase } from "./database.ts";
import { useTestDatabase } from "./testing/test-environment.ts";

const db = await useTestDatabase();
const sql = createDatabase(db.url, { name: "killed-connection-test", max: 1 });
afterAll(() => closeDatabase(sql));

async function backendPid(): Promise<number> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  return row?.pid ?? 0;
}

// Unpatched postgres.js left the query sent right after the socket error unanswered forever,
// and the next connection's startup message stuck behind the dead one's bytes.
test("after Postgres kills the connection, queries fail or run on a new one, none hangs", async () => {
  for (let round = 0; round < 5; round++) {
    const killed = await backendPid();
    await db.sql`select pg_terminate_backend(${killed})`;
    const outcomes: string[] = [];
    for (let query = 0; query < 3; query++) {
      outcomes.push(
        await sql`select 1`.then(
          () => "answered",
          () => "failed",
        ),
      );
    }
    expect(outcomes.at(-1)).toBe("answered");
    expect(await backendPid()).not.toBe(killed);
  }
});

test("a transaction on a connection Postgres killed commits whole or not at all, and the next one commits", async () => {
  await db.sql`create table public.notes (text text not null)`;
  const killed = await backendPid();
  await db.sql`select pg_terminate_backend(${killed})`;
  const interrupted = await sql
    .begin((tx) => tx`insert into public.notes values ('interrupted')`)
    .then(
      () => "committed",
      () => "failed",
    );
  await sql.begin((tx) => tx`insert into public.notes values ('next')`);
  const notes = await db.sql<{ text: string }[]>`select text from public.notes`;
  const texts = notes.map((row) => row.text);
  expect(texts).toContain("next");
  // Whichever way the client took the dead connection, what it reported is what happened.
  expect(texts.includes("interrupted")).toBe(interrupted === "committed");
  expect(notes.length).toBe(interrupted === "committed" ? 2 : 1);
});
