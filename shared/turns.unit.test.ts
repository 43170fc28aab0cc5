import { expect, test } from "bun:test";
import { createTurns } from "./turns.ts";

/** A task that runs until `finish()` is called, recording when it started. */
function gate(started: string[], name: string) {
  let finish = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    task: async () => {
      started.push(name);
      await finished;
      return name;
    },
    finish: () => finish(),
  };
}

test("tasks with the same key run one after another, in order; other keys run at once", async () => {
  const turns = createTurns();
  const started: string[] = [];
  const [a1, a2, b1] = [gate(started, "a1"), gate(started, "a2"), gate(started, "b1")];
  const results = [turns("a", a1.task), turns("a", a2.task), turns("b", b1.task)];
  await Bun.sleep(0);
  expect(started).toEqual(["a1", "b1"]);
  a1.finish();
  expect(await results[0]).toBe("a1");
  await Bun.sleep(0);
  expect(started).toEqual(["a1", "b1", "a2"]);
  a2.finish();
  b1.finish();
  expect(await Promise.all(results)).toEqual(["a1", "a2", "b1"]);
});

test("a task that fails does not stop the next one with its key", async () => {
  const turns = createTurns();
  const failing = turns("a", async () => {
    throw new Error("first failed");
  });
  const next = turns("a", async () => "second ran");
  await expect(failing).rejects.toThrow("first failed");
  expect(await next).toBe("second ran");
});
