import { expect, test } from "bun:test";
import { processCpuSeconds } from "./cpu.ts";

test("reads a process' CPU time, which grows as it works; an unknown process reads 0", () => {
  const before = processCpuSeconds(process.pid);
  expect(before).toBeGreaterThan(0);
  // Work until the kernel has counted at least one more tick (or give up after 5 s).
  const deadline = performance.now() + 5_000;
  while (processCpuSeconds(process.pid) === before && performance.now() < deadline) {}
  expect(processCpuSeconds(process.pid)).toBeGreaterThan(before);
  expect(processCpuSeconds(2 ** 30)).toBe(0);
});
