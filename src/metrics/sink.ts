/**
 * What tessera reports as it works, for metrics. The service gives one (`PrometheusMetrics`) when
 * `TESSERA_METRICS=true`; otherwise there is none, and nothing is counted, hooked or registered:
 * each reporting spot is a `metrics?.` call that does nothing.
 *
 * Hot-path counts that are read rather than reported (the token cache's hits and misses, the
 * argon2 queue's depth) are handed over once, in `attach`, and read at scrape time.
 */
import type { TesseraEmitter } from '../events.js'
import type { LimitName } from '../http/rate-limits.js'
import type { AuthFailure } from '../tokens/failures.js'

/** A running count the sink reads when it is scraped. */
export interface CacheCounts {
  readonly hits: number
  readonly misses: number
}

/** What an instance exposes to its sink once it is built. */
export interface MeteredParts {
  /** Tokens issued and revoked are counted from these events. */
  events: TesseraEmitter
  /** The SQLite token cache's counts; `undefined` where there is no cache (PostgreSQL). */
  tokenCache: CacheCounts | undefined
  /** The built-in users' argon2 queue; `undefined` when the application brings its own users. */
  argon2Queue: { readonly waiting: number } | undefined
}

export interface MetricsSink {
  /** Called once, when the instance is built. */
  attach: (parts: MeteredParts) => void
  /**
   * A token presented to `authenticate`: accepted, refused (and why), or not checked because the
   * database failed (`error`).
   */
  authentication: (outcome: 'success' | 'failure' | 'error', reason?: AuthFailure) => void
  /** A login answered with this HTTP status. */
  login: (statusCode: number) => void
  /** A request refused with 429 by this limit. */
  rateLimitRefusal: (limit: LimitName) => void
  /** How long an argon2 operation waited for a core, in seconds (0: it had one at once). */
  argon2Wait: (seconds: number) => void
  /** A database error: a request's, the health check's, a background write's or sweep's. */
  databaseError: (error: unknown) => void
}
