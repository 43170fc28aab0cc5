import { expect, test } from "bun:test";
import type { Sql } from "../database.ts";
import { createMetricsRegistry } from "../metrics.ts";
import { createInboxMetrics } from "./metrics.ts";

const inbox = {
  schema: "orders",
  metricPrefix: "orders",
  reader: "Orders",
  publisher: { name: "Sales", republishScript: "outbox:republish" },
} as Parameters<typeof createInboxMetrics>[2];

test("ignored events are counted by type, with a bounded number of series", async () => {
  const registry = createMetricsRegistry();
  const { consumer } = createInboxMetrics(registry, {} as Sql, inbox);
  const ignored = Array.from({ length: 150 }, (_, i) => ({ id: `${i}`, type: `x.${i}.v1` }));
  consumer.stored({ received: 151, inserted: 151, pending: 0, ignored, parked: [] });
  consumer.stored({
    received: 2,
    inserted: 2,
    pending: 0,
    ignored: [{ id: "a", type: "x.0.v1" }],
    parked: [{ id: "b", subject: "sales.x", streamSequence: 9, error: "not a valid event" }],
  });
  const text = await registry.render();
  const series = text.split("\n").filter((line) => line.startsWith("orders_inbox_ignored_total{"));
  expect(series.length).toBe(101);
  expect(series).toContain('orders_inbox_ignored_total{type="x.0.v1"} 2');
  expect(series).toContain('orders_inbox_ignored_total{type="(other)"} 50');
  expect(text).toContain("orders_inbox_parked_total 1");
});
