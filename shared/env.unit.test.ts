import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import {
  EnvError,
  intervalVariable,
  keepVariable,
  MAX_KEEP_MS,
  MAX_TIMER_MS,
  natsUrlVariable,
  parseEnv,
  redactUrls,
} from "./env.ts";

describe("natsUrlVariable", () => {
  const schema = v.object({ NATS_URL: natsUrlVariable });
  const parse = (url: string) => parseEnv(schema, { NATS_URL: url }).NATS_URL;

  test("takes nats:// and tls:// URLs, one or several", () => {
    expect(parse("nats://nats:4222")).toBe("nats://nats:4222");
    expect(parse("tls://a:4222, nats://b:4222")).toBe("tls://a:4222, nats://b:4222");
  });

  test("refuses WebSocket URLs, which the Node transport cannot open", () => {
    expect(() => parse("ws://nats:8080")).toThrow(EnvError);
    expect(() => parse("nats://a:4222,wss://b:443")).toThrow(
      'Invalid environment variable NATS_URL: must be nats:// or tls:// URLs, separated by commas (got "nats://a:4222,wss://b:443")',
    );
  });
});

describe("credentials in error lines", () => {
  test("a URL's user and password are masked, in every URL of a list", () => {
    expect(redactUrls("nats://alice:S3cret@a:4222, tls://tok3n@b:4222,nats://c:4222")).toBe(
      "nats://***@a:4222, tls://***@b:4222,nats://c:4222",
    );
    expect(redactUrls("postgres://u:pa ss@h/db")).toBe("postgres://***@h/db");
  });

  test("odd URLs too: a / or an @ in the password, no scheme, a password parameter", () => {
    expect(redactUrls("postgres://u:pa/ss@h/db")).toBe("postgres://***@h/db");
    expect(redactUrls("postgres://u:p@ss@h/db")).toBe("postgres://***@h/db");
    expect(redactUrls("u:secretpw@h:4222")).toBe("***@h:4222");
    expect(redactUrls("postgres://h/db?sslmode=require&password=secret")).toBe(
      "postgres://h/db?sslmode=require&password=***",
    );
    expect(redactUrls("nats://h:4222")).toBe("nats://h:4222");
    expect(redactUrls("postgres://u:pa,ss@h/db")).toBe("postgres://***@h/db");
    expect(redactUrls("postgres://u:p@h/db?sslpassword=x&a=b")).toBe(
      "postgres://***@h/db?sslpassword=***&a=b",
    );
  });

  test("a bad URL is shown without them", () => {
    const schema = v.object({ NATS_URL: natsUrlVariable });
    expect(() => parseEnv(schema, { NATS_URL: "nats://u:secret@h:4222, ws://x" })).toThrow(
      '(got "nats://***@h:4222, ws://x")',
    );
  });

  test("a variable named for a secret is never shown", () => {
    const schema = v.object({ DB_PASSWORD: v.pipe(v.string(), v.minLength(20)) });
    expect(() => parseEnv(schema, { DB_PASSWORD: "hunter2" })).toThrow(
      /^Invalid environment variable DB_PASSWORD: [^"]*$/,
    );
  });
});

describe("intervalVariable", () => {
  const schema = v.object({ POLL_MS: intervalVariable(1000) });

  test("takes up to the longest delay a timer can hold", () => {
    expect(parseEnv(schema, {}).POLL_MS).toBe(1000);
    expect(parseEnv(schema, { POLL_MS: String(MAX_TIMER_MS) }).POLL_MS).toBe(MAX_TIMER_MS);
  });

  test("refuses a longer one, which a timer would fire after 1 ms", () => {
    expect(() => parseEnv(schema, { POLL_MS: String(MAX_TIMER_MS + 1) })).toThrow(
      `must be at most ${MAX_TIMER_MS}`,
    );
  });
});

describe("keepVariable", () => {
  const schema = v.object({ RETENTION_MS: keepVariable(1000) });

  test("takes up to 100 years", () => {
    expect(parseEnv(schema, { RETENTION_MS: String(MAX_KEEP_MS) }).RETENTION_MS).toBe(MAX_KEEP_MS);
  });

  test("refuses longer, which NATS (int64 nanoseconds) or Postgres' timestamps cannot hold", () => {
    // 10^13 ms: NATS refuses it as a stream's max_age; a few times 10^14 ms before now is
    // before the first timestamp Postgres has.
    expect(() => parseEnv(schema, { RETENTION_MS: "10000000000000" })).toThrow(
      `must be at most ${MAX_KEEP_MS}`,
    );
  });
});
