import { expect, test } from "bun:test";
import { allQueries, isDatabaseUnavailable } from "./database.ts";

test("allQueries gives every result in order", async () => {
  const results = await allQueries([Promise.resolve(1), Promise.resolve("two"), 3] as const);
  expect(results).toEqual([1, "two", 3]);
});

test("allQueries throws the first failure only once every query has settled", async () => {
  const settledFirst: string[] = [];
  let finishSlow: (value: string) => void = () => {};
  const slow = new Promise<string>((resolve) => {
    finishSlow = resolve;
  }).then((value) => {
    settledFirst.push("slow query");
    return value;
  });
  const failing = allQueries([Promise.reject(new Error("connect ECONNREFUSED")), slow]).catch(
    (error: Error) => {
      settledFirst.push("failure thrown");
      return error;
    },
  );
  await Bun.sleep(0);
  expect(settledFirst).toEqual([]);
  finishSlow("done");
  expect(((await failing) as Error).message).toBe("connect ECONNREFUSED");
  expect(settledFirst).toEqual(["slow query", "failure thrown"]);
});

test("an unreachable, refusing or overloaded server is unavailable; a wrong query is not", () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });
  for (const code of ["ECONNREFUSED", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "57P01", "53300"]) {
    expect(isDatabaseUnavailable(withCode(code))).toBe(true);
  }
  for (const code of ["42601", "23505", "55P03", "40P01"]) {
    expect(isDatabaseUnavailable(withCode(code))).toBe(false);
  }
  expect(isDatabaseUnavailable(new Error("no code"))).toBe(false);
  expect(isDatabaseUnavailable(null)).toBe(false);
});
