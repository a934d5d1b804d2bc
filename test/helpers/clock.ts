/**
 * A clock a test moves by hand, for the plugin's `clock` option: time passes when the test says
 * so (`advance`), never while it waits, so that an expiry, a sliding refresh or a rate-limit
 * window is passed at once, and two instants differ exactly by what the test advanced.
 * Give the durations under test minutes or hours, far more than a test runs for even on a loaded
 * machine: then only the clock can pass them, and a tessera that read the real time instead would
 * fail the test rather than pass it by the time it took.
 */
export interface TestClock {
  /** The clock's reading, in ms since the epoch: what the plugin is given as its `clock`. */
  readonly now: () => number
  /** Moves the clock forward by `ms` (a whole number, 0 or more). */
  readonly advance: (ms: number) => void
}

/** A clock that reads `start` (default: the real time when it is made) until it is advanced. */
export function testClock (start = Date.now()): TestClock {
  let current = start
  return {
    now: () => current,
    advance: (ms) => {
      if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`advance: ${ms} is not a whole number of ms of 0 or more`)
      current += ms
    }
  }
}
