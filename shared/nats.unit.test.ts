import { expect, test } from "bun:test";
import { subjectMatches } from "./nats.ts";

test("a subject filter takes what NATS' wildcards take, and nothing else", () => {
  expect(subjectMatches("sales.>", "sales.product.created.v1")).toBe(true);
  expect(subjectMatches("sales.>", "sales")).toBe(false);
  expect(subjectMatches("sales.>", "elsewhere")).toBe(false);
  expect(subjectMatches("sales.*.created.v1", "sales.product.created.v1")).toBe(true);
  expect(subjectMatches("sales.*", "sales.product.created")).toBe(false);
  expect(subjectMatches("sales.product", "sales.product")).toBe(true);
  expect(subjectMatches("sales.product", "sales.products")).toBe(false);
  expect(subjectMatches("a.*.c", "a.b.d")).toBe(false);
  expect(subjectMatches("a.b", "a.b.c")).toBe(false);
  expect(subjectMatches(">", "a")).toBe(true);
});
