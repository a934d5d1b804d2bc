/**
 * The current time, in ms since the epoch: where tessera reads "now" for tokens (issue, expiry,
 * sliding refresh), tombstones, the activity log, users' timestamps, sweeps and the rate limits.
 * `Date.now` unless an application's tests inject their own (the plugin's `clock` option), so that
 * an expiry or a rate-limit window can be passed by moving the clock instead of waiting for it.
 */
export type Clock = () => number

/** What is wrong with a `clock` option, in words, or `undefined`. Reads the clock once. */
export function clockProblem (clock: unknown): string | undefined {
  const expected = 'clock must be a function returning the current time as a whole number of ms since the epoch, like Date.now'
  if (typeof clock !== 'function') return `${expected} (got ${clock === null ? 'null' : typeof clock})`
  // Read once, here: a clock that returns fractions or a Date would otherwise fail later, at a
  // write of a bigint column, as a 500.
  const reading: unknown = (clock as () => unknown)()
  if (typeof reading !== 'number' || !Number.isSafeInteger(reading) || reading < 0) {
    return `${expected} (it returned ${typeof reading === 'number' ? String(reading) : typeof reading})`
  }
  return undefined
}

/** An instant as the API shows it: ISO-8601 in UTC, or null. */
export function toIso (epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString()
}
