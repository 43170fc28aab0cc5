/**
 * W3C `traceparent`: version, trace id, parent (span) id, flags. A version after 00 may append
 * fields after another `-`; they are read the way version 00 is, as the recommendation says.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

function parseTraceparent(traceparent: string | undefined | null) {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, more] = match as unknown as string[];
  if (version === "ff" || (version === "00" && more !== undefined)) return undefined;
  if (/^0+$/.test(traceId ?? "") || /^0+$/.test(spanId ?? "")) return undefined;
  return { traceId, spanId, flags };
}

/** The trace id of a W3C `traceparent` header, or undefined when the header is not one. */
export function traceIdOf(traceparent: string | undefined | null): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

const randomHex = (bytes: number) =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");

/** A new W3C `traceparent` (version 00, sampled) with a random trace and span id. */
export function newTraceparent(): string {
  return `00-${randomHex(16)}-${randomHex(8)}-01`;
}

/**
 * The `traceparent` a request works under: the caller's when it sent a valid one (so its
 * trace, and the span it made the call from, carry on unchanged into the events), otherwise
 * a new trace. Nothing records spans here, so no span of its own is minted.
 */
export function continueTrace(incoming: string | undefined | null): string {
  const parsed = parseTraceparent(incoming);
  // Passed on as version 00, the only version this code writes.
  return parsed ? `00-${parsed.traceId}-${parsed.spanId}-${parsed.flags}` : newTraceparent();
}
