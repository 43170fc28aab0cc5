import { benchProduct, createProductBody } from "./wire.ts";

export type LoadResult = { sent: number; created: number; errors: number; firstError?: string };

type Post = (n: number) => Promise<void>;

function productPoster(salesUrl: string, label: string, result: LoadResult): Post {
  return async (n) => {
    result.sent++;
    try {
      const response = await fetch(`${salesUrl}/products`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: createProductBody(benchProduct(label, n)),
      });
      await response.arrayBuffer();
      if (response.status === 201) result.created++;
      else {
        result.errors++;
        result.firstError ??= `HTTP ${response.status}`;
      }
    } catch (error) {
      result.errors++;
      result.firstError ??= (error as Error).message;
    }
  };
}

/** `POST /products` as fast as Sales answers, `concurrency` requests in flight, for `durationMs`. */
export async function fullSpeedLoad({
  salesUrl,
  label,
  concurrency,
  durationMs,
}: {
  salesUrl: string;
  label: string;
  concurrency: number;
  durationMs: number;
}): Promise<LoadResult> {
  const result: LoadResult = { sent: 0, created: 0, errors: 0 };
  const post = productPoster(salesUrl, label, result);
  const deadline = performance.now() + durationMs;
  let next = 0;
  const lane = async () => {
    while (performance.now() < deadline) await post(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return result;
}

/**
 * `POST /products` at a fixed rate for `durationMs`, open loop: request k leaves at k / rate
 * whether or not the earlier ones were answered, so a slow system shows up as latency.
 */
export async function fixedRateLoad({
  salesUrl,
  label,
  ratePerS,
  durationMs,
}: {
  salesUrl: string;
  label: string;
  ratePerS: number;
  durationMs: number;
}): Promise<LoadResult> {
  const result: LoadResult = { sent: 0, created: 0, errors: 0 };
  const post = productPoster(salesUrl, label, result);
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const total = Math.max(1, Math.round((ratePerS * durationMs) / 1000));
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * ratePerS) / 1000) + 1);
    while (issued < due) {
      const request = post(issued++).finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    const nextAt = started + (issued * 1000) / ratePerS;
    await Bun.sleep(Math.max(0, nextAt - performance.now()));
  }
  await Promise.all(inFlight);
  return result;
}
