const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The trace id of a W3C `traceparent` header, or undefined when the header is not one. */
export function traceIdOf(traceparent: string | undefined | null): string | undefined {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!match || match[1] === "ff" || /^0+$/.test(match[2] ?? "") || /^0+$/.test(match[3] ?? ""))
    return undefined;
  return match[2];
}

/** A new W3C `traceparent` (version 00, sampled) with a random trace and span id. */
export function newTraceparent(): string {
  const hex = (bytes: number) =>
    Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
  return `00-${hex(16)}-${hex(8)}-01`;
}
