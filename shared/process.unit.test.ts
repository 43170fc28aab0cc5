import { describe, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { exitOnSignalsWhileStarting, exitOnUncaughtErrors, stopOnSignals } from "./process.ts";

function setUp(stop: () => Promise<void>, timeLimitMs = 1_000) {
  const signals = new EventEmitter();
  const exits: number[] = [];
  const lines: string[] = [];
  const record = (_details: object, message: string) => void lines.push(message);
  let exited: (code: number) => void = () => {};
  const exitedOnce = new Promise<number>((resolve) => (exited = resolve));
  stopOnSignals("svc", stop, {
    log: { info: record, warn: record, error: record } as never,
    timeLimitMs,
    signals: signals as never,
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
  });
  return { signals, exits, lines, exitedOnce };
}

describe("stopOnSignals", () => {
  test("runs stop once and exits 0", async () => {
    let stops = 0;
    const { signals, exits, exitedOnce } = setUp(async () => void stops++);
    signals.emit("SIGTERM");
    expect(await exitedOnce).toBe(0);
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  test("exits 1 when stop fails", async () => {
    const { signals, lines, exitedOnce } = setUp(async () => {
      throw new Error("pool gone");
    });
    signals.emit("SIGINT");
    expect(await exitedOnce).toBe(1);
    expect(lines).toContain("svc: stop failed");
  });

  test("a second SIGINT exits 1 at once, without waiting for the stop", async () => {
    const { signals, exits, exitedOnce } = setUp(() => new Promise(() => {}));
    signals.emit("SIGINT");
    signals.emit("SIGTERM");
    expect(exits).toEqual([]);
    signals.emit("SIGINT");
    expect(await exitedOnce).toBe(1);
    expect(exits).toEqual([1]);
  });

  test("a SIGINT after a SIGTERM is ignored, as is a SIGTERM after a SIGINT", async () => {
    const { signals, exits } = setUp(() => new Promise(() => {}));
    signals.emit("SIGTERM");
    signals.emit("SIGINT");
    signals.emit("SIGTERM");
    expect(exits).toEqual([]);
  });

  test("a SIGTERM while stopping is ignored: the stop goes on and exits 0", async () => {
    let finish: () => void = () => {};
    let stops = 0;
    const { signals, exits, exitedOnce } = setUp(() => {
      stops++;
      return new Promise<void>((resolve) => (finish = resolve));
    });
    signals.emit("SIGINT");
    signals.emit("SIGTERM");
    expect(exits).toEqual([]);
    finish();
    expect(await exitedOnce).toBe(0);
    expect(stops).toBe(1);
  });

  test("a stop that hangs is cut short at the time limit with exit 1", async () => {
    const { signals, lines, exitedOnce } = setUp(() => new Promise(() => {}), 20);
    signals.emit("SIGTERM");
    expect(await exitedOnce).toBe(1);
    expect(lines).toContain("svc: stop took longer than its time limit, exiting");
  });
});

describe("exitOnUncaughtErrors", () => {
  test("logs an unhandled rejection with its stack, then exits 1", () => {
    const errors = new EventEmitter();
    const lines: { details: { err?: string }; message: string }[] = [];
    const exits: number[] = [];
    exitOnUncaughtErrors("svc", {
      log: {
        fatal: (details: object, message: string) => void lines.push({ details, message }),
      } as never,
      errors: errors as never,
      exit: (code) => void exits.push(code),
    });
    errors.emit("unhandledRejection", new Error("socket gone"));
    expect(exits).toEqual([1]);
    expect(lines[0]?.message).toBe("svc: unhandled rejection, exiting");
    expect(lines[0]?.details.err).toContain("Error: socket gone\n    at ");
  });
});

describe("exitOnSignalsWhileStarting", () => {
  test("a signal while starting exits 1; once started, signals are left to stopOnSignals", () => {
    const signals = new EventEmitter();
    const exits: number[] = [];
    const starting = exitOnSignalsWhileStarting("svc", {
      log: { warn: () => {} } as never,
      signals: signals as never,
      exit: (code) => void exits.push(code),
    });
    signals.emit("SIGTERM");
    expect(exits).toEqual([1]);
    starting.started();
    signals.emit("SIGTERM");
    signals.emit("SIGINT");
    expect(exits).toEqual([1]);
    expect(signals.listenerCount("SIGTERM") + signals.listenerCount("SIGINT")).toBe(0);
  });
});
