import { expect, test } from "bun:test";
import { join } from "node:path";
import { BenchUsageError, parseBenchOptions } from "./options.ts";

test("options: defaults, flags, help and refusals", () => {
  const defaults = parseBenchOptions([], {});
  expect(defaults).toMatchObject({ events: 50_000, concurrency: 16, publishWindow: 256, runs: 1 });
  expect(parseBenchOptions(["-r", "3"], {})).toMatchObject({ runs: 3 });
  expect(() => parseBenchOptions(["--runs", "0"], {})).toThrow("--runs must be at least 1");
  expect(parseBenchOptions(["-n", "300", "--duration", "2.5"], {})).toMatchObject({
    events: 300,
    durationS: 2.5,
  });
  expect(defaults).toMatchObject({ cpuProfileDirectory: undefined });
  expect(parseBenchOptions(["--cpu-prof", "profiles"], {})).toMatchObject({
    cpuProfileDirectory: join(process.cwd(), "profiles"),
  });
  expect(() => parseBenchOptions(["--cpu-prof", ""], {})).toThrow("--cpu-prof needs a directory");
  expect(defaults).toMatchObject({ latencyRatePerS: undefined });
  expect(parseBenchOptions(["--latency-rate", "20"], {})).toMatchObject({ latencyRatePerS: 20 });
  expect(() => parseBenchOptions(["--latency-rate", "0"], {})).toThrow(
    "--latency-rate must be at least 1",
  );
  expect(parseBenchOptions(["--help"], {})).toBe("help");
  expect(() => parseBenchOptions(["--concurrency", "0"], {})).toThrow(BenchUsageError);
  expect(() => parseBenchOptions(["--nonsense"], {})).toThrow(BenchUsageError);
  expect(() => parseBenchOptions([], { NATS_URL: "http://x" })).toThrow("NATS_URL");
});
