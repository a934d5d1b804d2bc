/**
 * tessera's Prometheus metrics, on prom-client: what `MetricsSink` reports, the counts read at
 * scrape time (the token cache, the argon2 queue), tokens issued and revoked from tessera's
 * events, and Node's own process metrics. Each instance keeps its own registry (two tessera apps
 * in one process count apart). `metrics/serve.ts` serves it and adds HTTP request durations.
 *
 * Every label takes values from a short fixed list (an outcome, a reason, a limit, a route's
 * pattern), never from a request's data, so the number of series stays bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { databaseErrorKind } from '../db/errors.js'
import { LIMIT_NAMES, type LimitName } from '../http/rate-limits.js'
import { AUTH_FAILURES, REVOCATION_REASON_LIST, type AuthFailure } from '../tokens/failures.js'
import type { MeteredParts, MetricsSink } from './sink.js'

/** A login's outcome, by the status it was answered with. */
const LOGIN_OUTCOMES: Record<number, string> = {
  200: 'success',
  400: 'invalid_request',
  401: 'failure',
  403: 'refused',
  429: 'rate_limited',
  503: 'unavailable'
}

/** Why tokens stop working: how they were revoked, or that they expired (presented past their expiry). */
const ENDINGS = [...REVOCATION_REASON_LIST, 'expired'] as const

/** Seconds: tessera answers a token in well under a millisecond, a login in tens of milliseconds. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/** Seconds: an argon2 operation takes about 16 ms a core, and the queue holds about a second of them. */
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export class PrometheusMetrics implements MetricsSink {
  readonly registry = new Registry()
  readonly #authentications: Counter<'outcome' | 'reason'>
  readonly #logins: Counter<'outcome'>
  readonly #issued: Counter
  readonly #revoked: Counter<'reason'>
  readonly #rateLimitRefusals: Counter<'limit'>
  readonly #argon2Wait: Histogram
  readonly #databaseErrors: Counter<'kind'>
  /** The service's request durations, observed by `metrics/serve.ts`. */
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.#authentications = new Counter({
      name: 'tessera_authentications_total',
      help: 'Tokens presented to authenticate, by outcome (success, failure, error: the database failed) and the reason of a failure',
      labelNames: ['outcome', 'reason'],
      registers
    })
    this.#authentications.inc({ outcome: 'success', reason: 'none' }, 0)
    this.#authentications.inc({ outcome: 'error', reason: 'none' }, 0)
    for (const reason of Object.keys(AUTH_FAILURES)) this.#authentications.inc({ outcome: 'failure', reason }, 0)

    this.#logins = new Counter({
      name: 'tessera_logins_total',
      help: 'Logins answered, by outcome: success, failure (wrong or missing credentials), invalid_request, refused, rate_limited, unavailable, error',
      labelNames: ['outcome'],
      registers
    })
    for (const outcome of [...Object.values(LOGIN_OUTCOMES), 'error']) this.#logins.inc({ outcome }, 0)

    this.#issued = new Counter({
      name: 'tessera_tokens_issued_total',
      help: 'Tokens issued: logins, registrations, personal access tokens, tokens.issue',
      registers
    })
    this.#revoked = new Counter({
      name: 'tessera_tokens_revoked_total',
      help: 'Tokens that stopped working, by reason: how they were revoked (logout, logout_all, logout_others, revoked, ' +
        'password_changed, evicted, user_deactivated), or expired (presented after its expiry)',
      labelNames: ['reason'],
      registers
    })
    for (const reason of ENDINGS) this.#revoked.inc({ reason }, 0)

    this.#rateLimitRefusals = new Counter({
      name: 'tessera_rate_limit_refusals_total',
      help: 'Requests refused with 429, by limit',
      labelNames: ['limit'],
      registers
    })
    for (const limit of LIMIT_NAMES) this.#rateLimitRefusals.inc({ limit }, 0)

    this.#argon2Wait = new Histogram({
      name: 'tessera_argon2_queue_wait_seconds',
      help: 'How long password hashings and verifications waited for a core',
      buckets: WAIT_BUCKETS,
      registers
    })
    this.#databaseErrors = new Counter({
      name: 'tessera_database_errors_total',
      help: 'Database errors met by requests, the health check and background writes, by kind: unavailable, query',
      labelNames: ['kind'],
      registers
    })
    this.#databaseErrors.inc({ kind: 'unavailable' }, 0)
    this.#databaseErrors.inc({ kind: 'query' }, 0)

    this.httpDuration = new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: "HTTP requests' durations, by method, route pattern (unmatched: no route) and status code",
      labelNames: ['method', 'route', 'status_code'],
      buckets: DURATION_BUCKETS,
      registers
    })
  }

  attach ({ events, tokenCache, argon2Queue }: MeteredParts): void {
    events.on('login', () => this.#issued.inc())
    events.on('logout', () => this.#revoked.inc({ reason: 'logout' }))
    events.on('logoutAll', ({ revoked }) => this.#revoked.inc({ reason: 'logout_all' }, revoked))
    events.on('logoutOthers', ({ revoked }) => this.#revoked.inc({ reason: 'logout_others' }, revoked))
    events.on('sessionRevoked', ({ reason }) => this.#revoked.inc({ reason }))
    events.on('tokenExpired', () => this.#revoked.inc({ reason: 'expired' }))
    events.on('passwordChanged', ({ revoked }) => this.#revoked.inc({ reason: 'password_changed' }, revoked))

    // Read when scraped: the request path only adds one to a plain number.
    if (tokenCache !== undefined) {
      for (const [name, help, read] of [
        ['tessera_token_cache_hits_total', 'Token lookups the SQLite token cache answered', () => tokenCache.hits],
        ['tessera_token_cache_misses_total', 'Token lookups the SQLite token cache sent to the database', () => tokenCache.misses]
      ] as const) {
        this.registry.registerMetric(new Counter({
          name,
          help,
          registers: [],
          collect () {
            this.reset()
            this.inc(read())
          }
        }))
      }
    }
    if (argon2Queue !== undefined) {
      this.registry.registerMetric(new Gauge({
        name: 'tessera_argon2_queue_depth',
        help: 'Password hashings and verifications waiting for a core now',
        registers: [],
        collect () {
          this.set(argon2Queue.waiting)
        }
      }))
    }
  }

  authentication (outcome: 'success' | 'failure' | 'error', reason?: AuthFailure): void {
    this.#authentications.inc({ outcome, reason: reason ?? 'none' })
  }

  login (statusCode: number): void {
    this.#logins.inc({ outcome: LOGIN_OUTCOMES[statusCode] ?? 'error' })
  }

  rateLimitRefusal (limit: LimitName): void {
    this.#rateLimitRefusals.inc({ limit })
  }

  argon2Wait (seconds: number): void {
    this.#argon2Wait.observe(seconds)
  }

  /** Counts `error` if it came from the database; anything else is not this metric's business. */
  databaseError (error: unknown): void {
    const kind = databaseErrorKind(error)
    if (kind !== undefined) this.#databaseErrors.inc({ kind })
  }
}
