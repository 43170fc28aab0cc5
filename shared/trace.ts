const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The trace id of a W3C `traceparent` header, or undefined when the header is not one. */
export function traceIdOf(traceparent: string | undefined | null): string | undefined {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!match || match[1] === "ff" || /^0+$/.test(match[2] ?? "") || /^0+$/.test(match[3] ?? ""))
    return undefined;
  return match[2];
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
  return traceIdOf(incoming) ? (incoming as string).trim() : newTraceparent();
}
