/**
 * Delay before retry number `attempts` (1 = first retry): exponential from `baseMs`, capped at
 * `capMs`, with "equal jitter" so a crowd of failures does not retry in lockstep.
 */
export function retryDelayMs(
  attempts: number,
  { baseMs = 500, capMs = 60_000, random = Math.random } = {},
): number {
  const exponential = Math.min(capMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
