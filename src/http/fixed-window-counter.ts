/**
 * Fixed-window counters whose memory is bounded without ever forgetting a live window.
 *
 * A counter needs to remember a key only while its window is open: once the window is over, the
 * next event would start a fresh one anyway, so the key can be dropped. A key whose window is
 * still open is never dropped, whatever other keys are counted: a limit is never reset by traffic
 * that does not concern it (an LRU cache, by contrast, lets an attacker evict a victim's counter
 * by sending attempts for a few thousand other keys).
 *
 * Memory is bounded by `maxKeys` open windows. When that many are open, an event for a key that
 * has none is refused (counted as over the limit) until the oldest window ends, rather than
 * making room by dropping a live one.
 */
import type { Rate } from '../settings.js'

export interface CounterOptions {
  /** Most keys with an open window; past it, events for new keys are refused. */
  maxKeys: number
  /** A monotonic clock, in ms (tests pass their own); the default is `performance.now`. */
  now?: () => number
}

export interface Hit {
  /** Whether this event is within the rate. */
  allowed: boolean
  /** Until the key's window ends (or, when refused for lack of room, until the oldest one does), in ms. */
  retryAfterMs: number
  /** Refused because `maxKeys` windows are open, not because this key used up its rate. */
  full: boolean
}

interface Window {
  startedAt: number
  count: number
}

export class FixedWindowCounter {
  readonly #rate: Rate
  readonly #maxKeys: number
  readonly #now: () => number
  /**
   * Open windows by key. Every window lasts `rate.windowMs` and a key whose window ended is
   * deleted before it is counted again, so insertion order is the order windows end in: the ended
   * ones are always at the front.
   */
  readonly #windows = new Map<string, Window>()

  constructor (rate: Rate, options: CounterOptions) {
    this.#rate = rate
    this.#maxKeys = options.maxKeys
    this.#now = options.now ?? (() => performance.now())
  }

  /** How many keys have an open window (for tests and metrics). */
  get size (): number {
    this.#forgetEnded(this.#now())
    return this.#windows.size
  }

  /** Counts one event for `key`. */
  hit (key: string): Hit {
    const now = this.#now()
    this.#forgetEnded(now)
    let window = this.#windows.get(key)
    if (window === undefined) {
      if (this.#windows.size >= this.#maxKeys) {
        const oldest = this.#windows.values().next().value as Window
        return { allowed: false, retryAfterMs: this.#endOf(oldest) - now, full: true }
      }
      window = { startedAt: now, count: 0 }
      this.#windows.set(key, window)
    }
    window.count += 1
    return { allowed: window.count <= this.#rate.max, retryAfterMs: this.#endOf(window) - now, full: false }
  }

  #endOf (window: Window): number {
    return window.startedAt + this.#rate.windowMs
  }

  /** Drops the windows that have ended: a run at the front of the map, so this costs O(dropped). */
  #forgetEnded (now: number): void {
    for (const [key, window] of this.#windows) {
      if (this.#endOf(window) > now) return
      this.#windows.delete(key)
    }
  }
}
