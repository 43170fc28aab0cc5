import { afterAll, expect, test } from "bun:test";
import { type AddressInfo, connect, createServer } from "node:net";
import { closeDatabase, createDatabase, isDatabaseUnavailable } from "./database.ts";
import { useTestDatabase, waitFor } from "./testing/test-environment.ts";

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

// Unpatched, the transaction's scope went on sending to the connection object, which the pool
// reopened for the next caller: the first statement got that connection's startup answer, the
// next ran in the other caller's transaction, and committed with it.
test("a transaction whose connection died runs none of the statements it sends afterwards", async () => {
  await db.sql`create table public.later (text text not null)`;
  let late: Promise<unknown> | undefined;
  const interrupted = sql.begin(async (tx) => {
    await tx`select pg_sleep(30)`.catch(() => {}); // say, a handler's failure, caught
    await tx`select 1`.catch(() => {});
    late = tx`insert into public.later values ('after the connection died')`;
    await late;
  });
  const sleeping = await waitFor(
    async () => {
      const [row] = await db.sql<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = current_database() and query like 'select pg_sleep(30)%'`;
      return row?.pid;
    },
    { message: "the transaction's statement running" },
  );
  await db.sql`select pg_terminate_backend(${sleeping})`;
  expect(
    await interrupted.then(
      () => "committed",
      (error) => error.code,
    ),
  ).toBe("CONNECTION_CLOSED");
  await sql.begin((tx) => tx`insert into public.later values ('next')`);
  await waitFor(() => late !== undefined, { message: "the late statement sent" });
  await late?.catch(() => {});
  const rows = await db.sql<{ text: string }[]>`select text from public.later`;
  expect(rows.map((row) => row.text)).toEqual(["next"]);
});

/**
 * A TCP proxy to the test database that cuts a client's connection the first time it sends
 * postgres.js' query for the array types, which every new connection runs first.
 */
async function cutWhileFetchingTypes() {
  const { hostname, port } = new URL(db.url);
  let cut = false;
  const proxy = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    upstream.on("data", (data) => client.write(data));
    for (const socket of [client, upstream]) {
      socket.on("error", () => {});
      socket.on("close", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (data) => {
      if (!cut && data.includes("typarray")) {
        cut = true;
        client.resetAndDestroy();
      } else upstream.write(data);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const url = new URL(db.url);
  url.port = String((proxy.address() as AddressInfo).port);
  return { url: url.toString(), wasCut: () => cut, close: () => proxy.close() };
}

// Unpatched, the failed fetch was a rejection nobody handled, and Sales and Orders exit on one.
test("a new connection that dies while it fetches the array types leaves no unhandled rejection", async () => {
  const unhandled: unknown[] = [];
  const onRejection = (error: unknown) => unhandled.push(error);
  process.on("unhandledRejection", onRejection);
  const proxy = await cutWhileFetchingTypes();
  const throughProxy = createDatabase(proxy.url, { name: "cut-connection-test", max: 1 });
  try {
    const first = await throughProxy`select 1`.then(
      () => "answered",
      (error) => (isDatabaseUnavailable(error) ? "unavailable" : String(error)),
    );
    expect(proxy.wasCut()).toBe(true);
    expect(["answered", "unavailable"]).toContain(first);
    // Both array parameters and results need the types fetched.
    const [row] = await throughProxy<{ ids: string[] }[]>`
      select ${["a", "b"]}::text[] as ids`;
    expect(row?.ids).toEqual(["a", "b"]);
    expect(unhandled).toEqual([]);
  } finally {
    process.off("unhandledRejection", onRejection);
    await closeDatabase(throughProxy);
    proxy.close();
  }
});
