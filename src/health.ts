/**
 * `/healthz`'s answer without a query per probe: the database counts as answering if one of these
 * checks got an answer within the last `maxAgeMs` (1 s), which a load balancer probing every few
 * hundred milliseconds from several places would otherwise pay for with a query each. Past that,
 * the next probe asks the database, and probes that arrive meanwhile wait for the same answer
 * (one query however many probes). A failure is never remembered as health: a probe that fails,
 * or a database outage any request runs into (`failed()`), makes the next probe ask again, so
 * that it answers 503 at once if the database is still down.
 */
export interface DatabaseHealthOptions {
  /** How long an answer from the database vouches for it, in ms (default 1 000). */
  maxAgeMs?: number
  /** A monotonic clock in ms (tests pass their own); default `performance.now`. */
  now?: () => number
}

export class DatabaseHealth {
  readonly #ping: () => Promise<unknown>
  readonly #maxAgeMs: number
  readonly #now: () => number
  /** When the last query that got an answer was sent, or -Infinity. */
  #answeredAt = -Infinity
  /** The query probes are waiting for, if one is under way. */
  #pending: Promise<void> | undefined
  /** Bumped by every failure, so that a query sent before it cannot vouch for the database after it. */
  #failures = 0

  constructor (ping: () => Promise<unknown>, options: DatabaseHealthOptions = {}) {
    this.#ping = ping
    this.#maxAgeMs = options.maxAgeMs ?? 1000
    this.#now = options.now ?? (() => performance.now())
  }

  /** Resolves if the database answers (or answered within `maxAgeMs`); rejects with its error. */
  async check (): Promise<void> {
    if (this.#now() - this.#answeredAt < this.#maxAgeMs) return
    this.#pending ??= this.#ask()
    await this.#pending
  }

  /** A database outage seen elsewhere: the next check asks the database. */
  failed (): void {
    this.#failures += 1
    this.#answeredAt = -Infinity
    this.#pending = undefined
  }

  async #ask (): Promise<void> {
    const sentAt = this.#now()
    const failures = this.#failures
    try {
      await this.#ping()
      if (this.#failures === failures) this.#answeredAt = sentAt
    } catch (error) {
      this.failed()
      throw error
    } finally {
      if (this.#failures === failures) this.#pending = undefined
    }
  }
}
