import { expect, test } from "bun:test";
import { listeningOn, processCpuSeconds } from "./cpu.ts";

test("reads a process' CPU time, which grows as it works; an unknown process reads 0", () => {
  const before = processCpuSeconds(process.pid);
  expect(before).toBeGreaterThan(0);
  // Work until the kernel has counted at least one more tick (or give up after 5 s).
  const deadline = performance.now() + 5_000;
  while (processCpuSeconds(process.pid) === before && performance.now() < deadline) {}
  expect(processCpuSeconds(process.pid)).toBeGreaterThan(before);
  expect(processCpuSeconds(2 ** 30)).toBe(0);
});

test("tells which of some processes listens on a port", () => {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const parent = process.ppid;
    expect(listeningOn(server.port, [parent, process.pid])).toEqual([process.pid]);
    expect(listeningOn(server.port, [parent])).toEqual([]);
  } finally {
    server.stop(true);
  }
  expect(listeningOn(server.port, [process.pid])).toEqual([]);
});
