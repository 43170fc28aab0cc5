import { expect, test } from "bun:test";
import { lagCurve, percentiles, perSecond, ratio, slope } from "./stats.ts";

test("percentiles are nearest-rank, whatever the input order", () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1
  expect(percentiles(values)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100, count: 100 });
  expect(percentiles([7])).toEqual({ p50: 7, p95: 7, p99: 7, max: 7, count: 1 });
  expect(percentiles([]).count).toBe(0);
});

test("rates and ratios", () => {
  expect(perSecond(500, 250)).toBe(2000);
  expect(perSecond(5, 0)).toBe(0);
  expect(ratio(1, 3)).toBe(0.33);
  expect(ratio(1, 0)).toBe(0);
});

test("the slope of a growing backlog is its growth per second; a flat one has none", () => {
  expect(slope([0, 1, 2, 3].map((x) => ({ x, y: 10 + 5 * x })))).toBeCloseTo(5);
  expect(slope([0, 1, 2, 3].map((x) => ({ x, y: 4 })))).toBe(0);
  expect(slope([{ x: 1, y: 1 }])).toBe(0);
});

test("the lag curve counts events written but not yet applied at each instant", () => {
  const events = [
    { writtenAt: 0, appliedAt: 500 },
    { writtenAt: 100, appliedAt: 1500 },
    { writtenAt: 900, appliedAt: null },
  ];
  expect(lagCurve(events, 0, 1000, 3)).toEqual([
    { x: 0, y: 1 },
    { x: 0.5, y: 1 },
    { x: 1, y: 2 },
  ]);
});
