import { describe, expect, test } from "bun:test";
import { continueTrace, newTraceparent, traceIdOf } from "./trace.ts";

const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("trace context", () => {
  test("a valid traceparent carries on unchanged", () => {
    expect(continueTrace(incoming)).toBe(incoming);
    expect(continueTrace(` ${incoming} `)).toBe(incoming);
  });

  test.each([
    ["absent", undefined],
    ["empty", ""],
    ["garbage", "hello"],
    ["an all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["an all-zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ["uppercase hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"],
    ["version 00 with more fields", `${incoming}-extra`],
  ])("%s starts a new trace", (_, header) => {
    const started = continueTrace(header);
    expect(traceIdOf(started)).toMatch(/^[0-9a-f]{32}$/);
    expect(started).not.toBe(header as string);
  });

  test("a later version carries its trace and span on, as version 00, whatever fields it adds", () => {
    const later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-some-future-field";
    expect(continueTrace(later)).toBe(incoming);
    expect(continueTrace(later.slice(0, 55))).toBe(incoming);
  });

  test("new traces differ and are valid", () => {
    const a = newTraceparent();
    const b = newTraceparent();
    expect(traceIdOf(a)).toBeDefined();
    expect(traceIdOf(a)).not.toBe(traceIdOf(b));
  });
});
