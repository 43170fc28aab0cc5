import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "shared";
import { REQUEUED_BEFORE } from "shared/outbox";
import { runScriptProcess } from "shared/testing/script-process.ts";
import { captureLogger } from "shared/testing/silent-logger.ts";
import { readStreamMessages } from "shared/testing/stream-messages.ts";
import { testEnv, waitFor } from "shared/testing/test-environment.ts";
import { startSalesUnderTest } from "../testing/sales-under-test.ts";

const logs = captureLogger("sales");
const sales = await startSalesUnderTest({ OUTBOX_POLL_MS: "60000" }, { log: logs.log });

function runRepublish(args: string[]) {
  return runScriptProcess("sales/scripts/outbox-republish.ts", args, {
    DATABASE_URL: sales.database.url,
  });
}

async function createProduct(sku: string) {
  const response = await sales.app.request("/products", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sku, name: sku, price: { amount: 1, currency: "EUR" } }),
  });
  expect(response.status).toBe(201);
}

const unpublished = async () =>
  (
    await sales.sql`
      select id from sales.outbox_messages where published_at is null and parked_at is null`
  ).length;

test("bun run outbox:republish re-sends rows by id or time; JetStream drops the copies", async () => {
  await createProduct("REPUB-1");
  await createProduct("REPUB-2");
  await waitFor(async () => (await unpublished()) === 0, { message: "published" });
  const rows = await sales.sql<{ id: string; occurredAt: Date }[]>`
    select id, occurred_at from sales.outbox_messages order by occurred_at`;
  const [first, second] = rows;

  expect((await runRepublish(["--help"])).stdout).toContain("--since");
  // Only what the re-publishing caused: a slow first publish may also have ended as a duplicate.
  const linesBefore = logs.lines.length;
  const byId = await runRepublish([
    "--id",
    first?.id.toUpperCase() ?? "", // the same id
    "--id",
    "0193a5c2-7a10-7cc1-8a5e-4b0c2f9e1a01",
  ]);
  expect(byId.code).toBe(1); // an id it did not find
  expect(byId.stdout).toContain("queued 1 row(s)");
  expect(byId.stdout).toContain("not found: 0193a5c2-7a10-7cc1-8a5e-4b0c2f9e1a01");

  const bySince = await runRepublish(["--since", second?.occurredAt.toISOString() ?? "", "--json"]);
  expect(bySince.code).toBe(0);
  expect(JSON.parse(bySince.stdout)).toEqual({ queued: [second?.id], notFound: [] });

  // The relay polls every 60 s: only the NOTIFY wake-up makes this quick.
  await waitFor(async () => (await unpublished()) === 0, {
    timeoutMs: 20_000,
    message: "re-published",
  });
  const duplicates = logs.lines
    .slice(linesBefore)
    .filter((line) => line.msg === "event published" && line.duplicate === true);
  expect(duplicates.map((line) => line.eventId).sort()).toEqual([first?.id, second?.id].sort());
  expect(await readStreamMessages(testEnv.NATS_URL, sales.stream.spec.name)).toHaveLength(2);
});

test("--since leaves parked rows alone and takes only a time with its zone", async () => {
  await createProduct("REPUB-PARKED");
  await waitFor(async () => (await unpublished()) === 0, { message: "published" });
  const [parked] = await sales.sql<{ id: string; occurredAt: Date }[]>`
    update sales.outbox_messages set published_at = null, parked_at = now(), last_error = 'too large'
    where id = (select id from sales.outbox_messages order by occurred_at desc limit 1)
    returning id, occurred_at`;

  const bySince = await runRepublish(["--since", parked?.occurredAt.toISOString() ?? "", "--json"]);
  expect(JSON.parse(bySince.stdout)).toEqual({ queued: [], notFound: [] });
  const [row] = await sales.sql<{ parkedAt: Date | null }[]>`
    select parked_at from sales.outbox_messages where id = ${parked?.id ?? ""}`;
  expect(row?.parkedAt).toBeInstanceOf(Date);

  for (const since of ["1", "Nov 27", "2026-11-27T10:00:00", "2026-11-27"]) {
    const refused = await runRepublish(["--since", since]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("ISO 8601");
  }
  for (const since of ["2026-11-27T10:00:00+01", "2026-02-31T10:00:00Z"]) {
    const refused = await runRepublish(["--since", since]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("must be a date that exists, its zone Z or ±hh:mm");
  }
});

test("--sequences re-sends the rows published at those stream sequences, and takes only a range", async () => {
  for (const sku of ["REPUB-SEQ-1", "REPUB-SEQ-2", "REPUB-SEQ-3"]) await createProduct(sku);
  await waitFor(async () => (await unpublished()) === 0, { message: "published" });
  const rows = await sales.sql<{ id: string; streamSequence: number }[]>`
    select id, stream_sequence from sales.outbox_messages
    where payload->'data'->>'sku' like 'REPUB-SEQ-%' order by stream_sequence`;
  const [, second, third] = rows;
  const range = `${second?.streamSequence}-${third?.streamSequence}`;
  const bySequence = await runRepublish(["--sequences", range, "--json"]);
  expect(bySequence.code).toBe(0);
  expect(JSON.parse(bySequence.stdout).queued.sort()).toEqual([second?.id, third?.id].sort());
  expect(JSON.parse(bySequence.stdout).sequencesNotFound).toBe(0);
  await waitFor(async () => (await unpublished()) === 0, {
    timeoutMs: 20_000,
    message: "re-published",
  });

  // Sequences no row recorded (deleted by retention, say) are counted, and the exit is 1.
  const beyond = `${(third?.streamSequence ?? 0) + 1000}-${(third?.streamSequence ?? 0) + 1001}`;
  const missing = await runRepublish(["--sequences", beyond]);
  expect(missing.code).toBe(1);
  expect(missing.stdout).toContain("2 of the sequences have no outbox row");

  for (const sequences of ["4", "0-3", "5-4", "a-b", "-3", "1-1234567890123456"]) {
    const refused = await runRepublish(["--sequences", sequences]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--sequences");
  }
});

test("rows whose messages were purged within the duplicate window wait it out rather than pass as published", async () => {
  await createProduct("REPUB-PURGED-1");
  await createProduct("REPUB-PURGED-2");
  await waitFor(async () => (await unpublished()) === 0, { message: "published" });
  const nc = await connectNats(testEnv.NATS_URL);
  try {
    await (await jetstreamManager(nc)).streams.purge(sales.stream.spec.name); // `nats stream purge`
  } finally {
    await nc.close();
  }
  const republished = await runRepublish(["--since", new Date(0).toISOString(), "--json"]);
  const { queued } = JSON.parse(republished.stdout) as { queued: string[] };
  expect(queued.length).toBeGreaterThanOrEqual(2);

  // JetStream answers "duplicate" for ids it still remembers: the relay checks the stream.
  const waiting = await waitFor(
    async () => {
      const rows = await sales.sql<{ attempts: number; waitS: number; lastError: string }[]>`
        select attempts, extract(epoch from next_attempt_at - now())::float8 as wait_s, last_error
        from sales.outbox_messages where id = any(${queued}::uuid[]) and last_error is not null`;
      return rows.length === queued.length ? rows : undefined;
    },
    { message: "the re-published rows tried" },
  );
  for (const row of waiting) {
    expect(row.lastError).toContain("no longer holds its message");
    expect(row.attempts).toBe(0);
    expect(row.waitS).toBeGreaterThan(60);
  }
  expect(await unpublished()).toBeGreaterThanOrEqual(queued.length);
});

test("a row the stream check re-queued once, since published, is sent again in line, not ahead of it", async () => {
  await createProduct("REPUB-ONCE-REQUEUED");
  const newest = async () =>
    (
      await sales.sql<{ id: string; publishedAt: Date | null }[]>`
        select id, published_at from sales.outbox_messages order by occurred_at desc limit 1`
    )[0];
  const row = await waitFor(async () => ((await newest())?.publishedAt ? newest() : undefined), {
    message: "published",
  });
  await sales.sql`
    update sales.outbox_messages set next_attempt_at = 'epoch'::timestamptz + interval '1 microsecond'
    where id = ${row.id}`;
  expect((await runRepublish(["--id", row.id])).code).toBe(0);
  const [queued] = await sales.sql<{ nextAttemptAt: Date }[]>`
    select next_attempt_at from sales.outbox_messages where id = ${row.id}`;
  expect(queued?.nextAttemptAt.getTime()).toBeGreaterThan(Date.parse(REQUEUED_BEFORE));
});
