import { expect, test } from "bun:test";
import { lagGrows } from "./report.ts";

test("a backlog grows when Orders falls behind by more than 1 % of the writes", () => {
  expect(lagGrows(-5, 700)).toBe(false);
  expect(lagGrows(2, 700)).toBe(false); // the slope's noise over a run
  expect(lagGrows(7, 700)).toBe(false);
  expect(lagGrows(8, 700)).toBe(true);
  expect(lagGrows(36, 729)).toBe(true); // 5 % of the writes: an hour of it is 130 000 events
});
