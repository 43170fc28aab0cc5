import type { MetricsRegistry } from "shared";
import type { GroupCommitMetrics } from "./transaction.ts";

/** Group commit in `/metrics`: how many use cases each write transaction carried. */
export function createGroupCommitMetrics(registry: MetricsRegistry): GroupCommitMetrics {
  const useCases = registry.histogram(
    "sales_write_transaction_use_cases",
    "Use cases (e.g. product creations) each committed write transaction carried.",
    [1, 2, 4, 8, 16, 32, 64],
  );
  const again = registry.counter(
    "sales_write_use_cases_run_again_total",
    "Use cases run again alone because something else in their shared transaction failed.",
  );
  return {
    committed: (count) => useCases.observe(count),
    runAgainAlone: (count) => again.inc({}, count),
  };
}
