import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeDatabase, createDatabase, type Sql } from "./database.ts";
import { ownConnection } from "./own-connection.ts";
import { useTestDatabase } from "./testing/test-environment.ts";

const db = await useTestDatabase();
let sql: Sql;

beforeAll(async () => {
  await db.sql`create table public.notes (text text not null)`;
  sql = createDatabase(db.url, { name: "own-connection-test", max: 1 });
});
afterAll(() => closeDatabase(sql));

const notes = async () =>
  (await db.sql<{ text: string }[]>`select text from public.notes order by text`).map(
    (row) => row.text,
  );

test("commits what the work wrote and returns its result", async () => {
  const connection = ownConnection(sql);
  const result = await connection.transaction(async (tx) => {
    await tx`insert into public.notes values ('committed')`;
    const [row] = await tx<{ open: boolean }[]>`
      select now() = statement_timestamp() as open`;
    return row?.open;
  });
  // In a transaction, now() is its start: an earlier statement's time, not this one's.
  expect(result).toBe(false);
  expect(await notes()).toContain("committed");
});

test("rolls back when the work throws, and the connection stays usable", async () => {
  const connection = ownConnection(sql);
  const failed = connection.transaction(async (tx) => {
    await tx`insert into public.notes values ('rolled back')`;
    throw new Error("handler failed");
  });
  expect(failed).rejects.toThrow("handler failed");
  await failed.catch(() => {});
  await connection.transaction((tx) => tx`insert into public.notes values ('after')`);
  expect(await notes()).not.toContain("rolled back");
  expect(await notes()).toContain("after");
});

test("rolls back when a statement fails", async () => {
  const connection = ownConnection(sql);
  const failed = connection.transaction(async (tx) => {
    await tx`insert into public.notes values ('before the error')`;
    await tx`insert into public.notes values (null)`;
  });
  expect(failed).rejects.toThrow(/null value/);
  await failed.catch(() => {});
  expect(await notes()).not.toContain("before the error");
});

test("transactions started together run one after the other", async () => {
  const connection = ownConnection(sql);
  let releaseFirst = () => {};
  const firstMayFail = new Promise<void>((resolve) => {
    releaseFirst = resolve;
  });
  const first = connection.transaction(async (tx) => {
    await tx`insert into public.notes values ('first, rolled back')`;
    await firstMayFail;
    throw new Error("first fails");
  });
  // Were it sent now, this one's statements would land inside the first transaction.
  const second = connection.transaction((tx) => tx`insert into public.notes values ('second')`);
  releaseFirst();
  await expect(first).rejects.toThrow("first fails");
  await second;
  expect(await notes()).toContain("second");
  expect(await notes()).not.toContain("first, rolled back");
});

test("after its connection is killed, the next transaction runs on a new one", async () => {
  const connection = ownConnection(sql);
  const [before] = await connection.transaction(
    (tx) => tx<{ pid: number }[]>`
    select pg_backend_pid() as pid`,
  );
  await db.sql`select pg_terminate_backend(${before?.pid ?? 0})`;
  const broken = connection.transaction((tx) => tx`select 1`);
  await broken.catch(() => {}); // the dead connection may or may not be noticed first
  const [after] = await connection.transaction(async (tx) => {
    await tx`insert into public.notes values ('on a new connection')`;
    return tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
  });
  expect(after?.pid).not.toBe(before?.pid);
  expect(await notes()).toContain("on a new connection");
});

test("refuses a pool of more than one connection", () => {
  const pool = createDatabase(db.url, { name: "own-connection-pool", max: 2 });
  expect(() => ownConnection(pool)).toThrow(/max: 1/);
  return closeDatabase(pool);
});
