/** Counts of what a write load got back, by HTTP status ("error" when no response came). */
export type LoadStats = {
  requests: number;
  byStatus: Record<string, number>;
  /** Requests that got no answer within the client timeout: a hang. */
  timeouts: number;
};

export type WriteLoad = {
  stats: LoadStats;
  /** Ids of the products Sales confirmed (201). */
  productIds: string[];
  /** Resolves once at least `count` more requests got an answer (any status). */
  waitForRequests(count: number): Promise<void>;
  stop(): Promise<LoadStats>;
};

/**
 * `concurrency` clients writing to Sales over HTTP as fast as it answers: new products, and
 * changes to products already made. Failures (Sales down, 503s) are counted and retried, so
 * the load keeps going through whatever a test does to the system.
 */
export function startWriteLoad(
  salesUrl: () => string,
  { concurrency = 6, timeoutMs = 10_000 }: { concurrency?: number; timeoutMs?: number } = {},
): WriteLoad {
  const stats: LoadStats = { requests: 0, byStatus: {}, timeouts: 0 };
  const productIds: string[] = [];
  let running = true;
  const runId = Math.random().toString(36).slice(2, 8).toUpperCase();
  const watchers = new Set<{ target: number; resolve: () => void }>();

  function record(status: string) {
    stats.requests++;
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    for (const watcher of watchers) {
      if (stats.requests >= watcher.target) {
        watchers.delete(watcher);
        watcher.resolve();
      }
    }
  }

  async function send(method: string, path: string, body: unknown): Promise<Response | undefined> {
    try {
      const response = await fetch(`${salesUrl()}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      record(String(response.status));
      if (response.status === 503) await Bun.sleep(25); // as a polite client would
      return response;
    } catch (error) {
      if ((error as Error).name === "TimeoutError") stats.timeouts++;
      record("error");
      await Bun.sleep(25); // Sales is down: do not spin
      return undefined;
    }
  }

  async function client(worker: number) {
    for (let i = 0; running; i++) {
      const existing = productIds[Math.floor(Math.random() * productIds.length)];
      if (existing && i % 2 === 1) {
        await send("PATCH", `/products/${existing}`, {
          name: `Changed ${worker}-${i}`,
          price: { amount: Math.floor(Math.random() * 100_000), currency: "EUR" },
        });
      } else {
        const response = await send("POST", "/products", {
          sku: `LOAD-${runId}-${worker}-${i}`,
          name: `Load ${worker}-${i}`,
          price: { amount: i, currency: "EUR" },
        });
        if (response?.status === 201)
          productIds.push(((await response.json()) as { id: string }).id);
        else await response?.body?.cancel();
      }
    }
  }

  const clients = Promise.all(Array.from({ length: concurrency }, (_, worker) => client(worker)));
  return {
    stats,
    productIds,
    waitForRequests(count) {
      const target = stats.requests + count;
      return new Promise((resolve) => watchers.add({ target, resolve }));
    },
    async stop() {
      running = false;
      await clients;
      for (const watcher of watchers) watcher.resolve();
      return stats;
    },
  };
}
