/** The JetStream stream that holds every event Sales publishes. */
export const SALES_STREAM = "SALES";

/** Subjects the `SALES` stream captures: every Sales event type. */
export const SALES_SUBJECTS = "sales.>";
