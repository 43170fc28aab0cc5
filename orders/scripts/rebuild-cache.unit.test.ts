import { expect, test } from "bun:test";
import type { RebuildResult } from "../infrastructure/product-cache-rebuild.ts";
import { rebuildText } from "./rebuild-cache.ts";

const result: RebuildResult = {
  stream: "SALES",
  firstSeq: 1,
  lastSeq: 12,
  complete: true,
  messagesRead: 12,
  eventsHandled: 12,
  skipped: { unreadable: 0, unhandled: 0, failed: 0 },
  products: 4,
  added: 1,
  replaced: 2,
  newerKept: 0,
  removed: 0,
  keptNotInStream: 0,
};

test("the rebuild's text names the sequences it read", () => {
  expect(rebuildText(result, 40)).toStartWith(
    "Rebuilt orders.product_cache from SALES, sequences 1-12\n",
  );
});

test("the rebuild's text of an empty stream says so, not 'sequences 8-7'", () => {
  const empty = { ...result, firstSeq: 8, lastSeq: 7, complete: false, messagesRead: 0 };
  expect(rebuildText(empty, 40)).toStartWith(
    "Rebuilt orders.product_cache from SALES, which holds no message\n",
  );
});

test("the rebuild's text says when --prune was asked for and not applied, and only then", () => {
  const incomplete = { ...result, firstSeq: 3, complete: false, keptNotInStream: 2 };
  expect(rebuildText(incomplete, 40, true)).toContain("--prune was not applied.");
  expect(rebuildText(incomplete, 40, false)).not.toContain("--prune");
  expect(rebuildText({ ...incomplete, complete: true }, 40, false)).toContain(
    "--prune would delete them",
  );
});
