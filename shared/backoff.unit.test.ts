import { describe, expect, test } from "bun:test";
import { retryDelayMs } from "./backoff.ts";

describe("retryDelayMs", () => {
  const lowest = (attempts: number, capMs?: number) =>
    retryDelayMs(attempts, { capMs, random: () => 0 });
  const highest = (attempts: number, capMs?: number) =>
    retryDelayMs(attempts, { capMs, random: () => 1 });

  test("doubles with every attempt, from 500 ms", () => {
    expect([1, 2, 3, 4].map((attempts) => highest(attempts))).toEqual([500, 1_000, 2_000, 4_000]);
  });

  test("jitters within the upper half of the exponential delay", () => {
    expect(lowest(3)).toBe(1_000);
    expect(highest(3)).toBe(2_000);
    expect(retryDelayMs(3, { random: () => 0.5 })).toBe(1_500);
  });

  test("never exceeds the cap, however many attempts", () => {
    expect(highest(40)).toBe(60_000);
    expect(lowest(40)).toBe(30_000);
    expect(highest(10, 10_000)).toBe(10_000);
  });
});
