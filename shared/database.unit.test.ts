import { expect, test } from "bun:test";
import { allQueries } from "./database.ts";

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
