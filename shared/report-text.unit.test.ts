import { expect, test } from "bun:test";
import { backlogText, oneLine } from "./report-text.ts";

test("an error is put on one line, and one cut to fit ends in … and the table says where to see it whole", () => {
  expect(oneLine("a\n  b")).toBe("a b");
  const long = `${"x".repeat(150)} the cause`;
  const cut = oneLine(long);
  expect(cut).toHaveLength(120);
  expect(cut.endsWith("…")).toBe(true);

  const report = (lastError: string) =>
    backlogText({
      title: "Outbox",
      fields: [],
      attempts: [],
      errors: { title: "Latest errors", header: ["id", "error"], rows: [["1", lastError]] },
    });
  expect(report(cut)).toContain("--json shows it whole");
  expect(report(oneLine("short"))).not.toContain("--json");
});
