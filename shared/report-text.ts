/** A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`, `3 h 02 min`, `2 d 4 h`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1_000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const pad = (n: number) => String(Math.floor(n)).padStart(2, "0");
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min ${pad(seconds % 60)} s`;
  if (seconds < 86_400)
    return `${Math.floor(seconds / 3_600)} h ${pad((seconds % 3_600) / 60)} min`;
  return `${Math.floor(seconds / 86_400)} d ${Math.floor((seconds % 86_400) / 3_600)} h`;
}

/** A size for people: `512 B`, `1.5 KiB`, `3.2 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `1,234,567`. */
export const formatCount = (n: number) => n.toLocaleString("en-US");

/** Lines of `label: value`, the labels padded to one width. */
export function formatFields(fields: [string, string | number][], indent = "  "): string[] {
  const width = Math.max(0, ...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${indent}${`${label}:`.padEnd(width)} ${value}`);
}

/** A plain-text table: a header row, a rule, the rows; each column as wide as its widest cell. */
export function formatTable(header: string[], rows: string[][], indent = "  "): string[] {
  const widths = header.map((cell, index) =>
    Math.max(cell.length, ...rows.map((row) => (row[index] ?? "").length)),
  );
  const line = (cells: string[]) =>
    `${indent}${cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join("  ")}`.trimEnd();
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)];
}

/** `[#########.........]  45%  4,500/10,000`. */
export function progressBar(done: number, total: number, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent}  ${formatCount(done)}/${formatCount(total)}`;
}

export type BacklogReport = {
  /** e.g. "Outbox (sales.outbox_messages)". */
  title: string;
  fields: [string, string | number][];
  attempts: { attempts: number; rows: number }[];
  /** e.g. "Latest errors (newest events first)", with a table of them (error text last). */
  errors: { title: string; header: string[]; rows: string[][] };
};

/** A backlog's status for a terminal: its figures, pending rows by attempts, latest errors. */
export function backlogText({ title, fields, attempts, errors }: BacklogReport): string {
  const lines = [
    title,
    ...formatFields(fields),
    "",
    "Pending rows by failed attempts",
    ...(attempts.length === 0
      ? ["  (none pending)"]
      : formatTable(
          ["attempts", "rows"],
          attempts.map((a) => [String(a.attempts), formatCount(a.rows)]),
        )),
    "",
    errors.title,
    ...(errors.rows.length === 0 ? ["  (none)"] : formatTable(errors.header, errors.rows)),
    ...(errors.rows.some((row) => row.some((cell) => cell.endsWith("…")))
      ? ["  (an error ending in … is cut; --json shows it whole)"]
      : []),
  ];
  return `${lines.join("\n")}\n`;
}

/** An error message on one line, cut to fit a table (with "…" where it was cut). */
export function oneLine(text: string, max = 120): string {
  const line = text.replace(/\s+/g, " ");
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
