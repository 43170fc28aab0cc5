import type { Logger } from "../logger.ts";
import type { FailedOutcome, Outcome } from "./relay.ts";

/** The same publish error is logged again after this long at the soonest. */
const REPEATED_FAILURE_LOG_MS = 60_000;

/**
 * Logs the outcomes of the relay's batches: a line per published event (how one event is
 * followed from Sales to Orders by its id), a line per parked one, and for the rest a line per
 * distinct error, since an outage fails a whole batch the same way. The same error again within
 * a minute is only counted (under load every batch would say it again); its next line says how
 * many rows failed so since.
 */
export function createRelayOutcomeLog(log: Logger): (outcomes: Outcome[]) => void {
  /** Errors logged within the last minute, and how many rows failed each way since. */
  const loggedFailures = new Map<string, { loggedAt: number; since: number }>();

  return (outcomes) => {
    const failures = new Map<string, FailedOutcome[]>();
    for (const outcome of outcomes) {
      const { id: eventId, type } = outcome.row;
      if (outcome.published) {
        log.info(
          { eventId, type, sequence: outcome.sequence, duplicate: outcome.duplicate },
          "event published",
        );
      } else if (outcome.park) {
        log.error(
          { eventId, type, err: outcome.error },
          "event parked: it will not be sent until republished",
        );
      } else {
        failures.set(outcome.error, [...(failures.get(outcome.error) ?? []), outcome]);
      }
    }
    const now = performance.now();
    for (const [err, logged] of loggedFailures) {
      if (now - logged.loggedAt >= REPEATED_FAILURE_LOG_MS && !failures.has(err)) {
        loggedFailures.delete(err);
      }
    }
    for (const [err, failed] of failures) {
      const logged = loggedFailures.get(err);
      if (logged && now - logged.loggedAt < REPEATED_FAILURE_LOG_MS) {
        logged.since += failed.length;
        continue;
      }
      const earlier = logged ? { failedSinceLastLine: logged.since } : {};
      loggedFailures.set(err, { loggedAt: now, since: 0 });
      const [only] = failed;
      if (failed.length === 1 && only) {
        const { id: eventId, type, attempts } = only.row;
        // A failure that is no fault of the row's (it waits, see `waitMs`) is not counted.
        const counted = only.waitMs === undefined ? 1 : 0;
        log.warn(
          { eventId, type, attempts: attempts + counted, err, ...earlier },
          "event publish failed, will retry",
        );
      } else {
        const eventIds = failed.slice(0, 10).map((o) => o.row.id);
        log.warn(
          { count: failed.length, eventIds, err, ...earlier },
          "events publish failed, will retry",
        );
      }
    }
  };
}
