/**
 * Rate limits on tessera's routes, each a fixed-window counter of its own:
 * - login: per client address (before the body is read) and per username (so that one address
 *   cannot spray many accounts, nor many addresses one account); a password change (which tries
 *   the current password) counts against the same per-username counter;
 * - register: per client address;
 * - authenticated routes: per token, with a higher limit.
 *
 * On SQLite (one process) the counters live in this process's memory, bounded by
 * `rateLimitMaxKeys` open windows each, and never forget a window that is still open (see
 * `FixedWindowCounter`): a limit is never reset by traffic that does not concern it. On PostgreSQL
 * they live in the database (see `DatabaseWindowCounter`), so that every instance on it counts
 * against one limit; a database error while counting answers 503, never lets the request through.
 * Client addresses are counted by `addressKey` (an IPv6 client by its /64).
 *
 * Each counter keeps its own clock, unless the plugin was given one (`clock`, a test's): then both
 * count windows on it, so that a test ends a window by moving its clock.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DatabaseUnavailableError } from '../db/errors.js'
import { ApiError } from '../error-codes.js'
import type { Rate } from '../settings.js'
import type { Clock } from '../time.js'
import { addressKey } from './client-address.js'
import { DatabaseWindowCounter } from './database-window-counter.js'
import { FixedWindowCounter, type Hit } from './fixed-window-counter.js'

export type LimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** Every limit's name (the metrics count refusals by it). */
export const LIMIT_NAMES = ['login-address', 'login-username', 'register-address', 'token'] as const
export type LimitName = (typeof LIMIT_NAMES)[number]

/** One limit on some routes. */
export interface Limit {
  /** Keeps this limit's counter apart from the others' (its rows in the database, on PostgreSQL). */
  name: LimitName
  /** `null`: no limit. */
  rate: Rate | null
  /** What is counted, as the 429 says it: `Too many ${what}: retry in 12 s.` */
  what: string
  /** Whose budget a request spends. */
  key: (request: FastifyRequest) => string
}

const unlimited: LimitHook = async () => {}

/** The key of a per-address limit: the client's address, an IPv6 client's /64. */
export const byClientAddress = (request: FastifyRequest): string => addressKey(request.ip)

/** Shared-database sweeps run once a window, but at least a second and at most a minute apart. */
const sweepEvery = (rate: Rate): number => Math.min(Math.max(rate.windowMs, 1000), 60_000)

/**
 * A hook allowing `rate` requests per window for each key; past it, 429 with `Retry-After`.
 *
 * ```ts
 * const hook = limitBy(scope, { name: 'login-address', rate: { max: 10, windowMs: 60_000 }, what: 'login attempts from this address', key: byClientAddress })
 * ```
 */
export function limitBy (scope: FastifyInstance, { name, rate, what, key }: Limit): LimitHook {
  if (rate === null) return unlimited
  const clock = injectedClock(scope)
  const count = scope.tessera.database.dialect === 'postgres' ? inDatabase(scope, name, rate, clock) : inMemory(scope, what, rate, clock)
  const { metrics } = scope.tessera
  return async (request, reply) => {
    const { allowed, retryAfterMs } = await count(request, key(request))
    if (allowed) return
    metrics?.rateLimitRefusal(name)
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
    reply.header('retry-after', seconds)
    throw new ApiError('RATE_LIMITED', `Too many ${what}: retry in ${seconds} s.`)
  }
}

type Count = (request: FastifyRequest, key: string) => Hit | Promise<Hit>

/**
 * The plugin's `clock`, when it is not the default `Date.now`; `undefined` leaves the counters
 * their own clocks: a monotonic one in memory (a wall clock set back must not stretch a window), the
 * database server's in the database (instances whose clocks disagree must agree on a window's end).
 */
function injectedClock (scope: FastifyInstance): Clock | undefined {
  const { clock } = scope.tessera
  return clock === Date.now ? undefined : clock
}

/** This process's own counter, which warns (once a window) when it is full. */
function inMemory (scope: FastifyInstance, what: string, rate: Rate, clock: Clock | undefined): Count {
  const { rateLimitMaxKeys } = scope.tessera.settings
  const now = clock ?? (() => performance.now())
  const counter = new FixedWindowCounter(rate, { maxKeys: rateLimitMaxKeys, now })
  let warnedFullAt = -Infinity
  return (request, key) => {
    const hit = counter.hit(key)
    if (hit.full && now() - warnedFullAt >= rate.windowMs) {
      warnedFullAt = now()
      request.log.warn({ limit: what, maxKeys: rateLimitMaxKeys },
        'rate limit counter full: refusing new clients until the oldest window ends')
    }
    return hit
  }
}

/**
 * The counter every instance on the database shares, swept by a timer of this instance's. Fails
 * closed: a request that cannot be counted is answered 503 (the database's usual outage answer).
 */
function inDatabase (scope: FastifyInstance, name: string, rate: Rate, clock: Clock | undefined): Count {
  const counter = new DatabaseWindowCounter(scope.tessera.database.kysely, rate, { name, now: clock })
  const timer = setInterval(() => {
    counter.sweep().then(
      (deleted) => { if (deleted > 0) scope.log.debug({ limit: name, deleted }, 'swept ended rate limit windows') },
      (error: unknown) => scope.log.warn({ err: error, limit: name }, 'sweeping ended rate limit windows failed')
    )
  }, sweepEvery(rate))
  timer.unref()
  scope.addHook('onClose', async () => clearInterval(timer))
  return async (_request, key) => {
    try {
      return await counter.hit(key)
    } catch (error) {
      throw new DatabaseUnavailableError(error)
    }
  }
}
