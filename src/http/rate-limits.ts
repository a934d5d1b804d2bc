/**
 * Rate limits on tessera's routes, each a fixed-window counter of its own:
 * - login: per client address (before the body is read) and per username (so that one address
 *   cannot spray many accounts, nor many addresses one account); a password change (which tries
 *   the current password) counts against the same per-username counter;
 * - register: per client address;
 * - authenticated routes: per token, with a higher limit.
 *
 * The counters live in this process's memory, bounded by `rateLimitMaxKeys` open windows each, and
 * never forget a window that is still open (see `FixedWindowCounter`): a limit is never reset by
 * traffic that does not concern it. Client addresses are counted by `addressKey` (an IPv6 client
 * by its /64).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Rate } from '../settings.js'
import { addressKey } from './client-address.js'
import { FixedWindowCounter } from './fixed-window-counter.js'

export type LimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

const unlimited: LimitHook = async () => {}

/** The key of a per-address limit: the client's address, an IPv6 client's /64. */
export const byClientAddress = (request: FastifyRequest): string => addressKey(request.ip)

/**
 * A hook allowing `rate` requests per window for each key; past it, 429 with `Retry-After`.
 * `null` rate: no limit.
 */
export function limitBy (scope: FastifyInstance, rate: Rate | null, what: string, key: (request: FastifyRequest) => string): LimitHook {
  if (rate === null) return unlimited
  const counter = new FixedWindowCounter(rate, { maxKeys: scope.tessera.settings.rateLimitMaxKeys })
  let warnedFullAt = -Infinity
  return async (request, reply) => {
    const { allowed, retryAfterMs, full } = counter.hit(key(request))
    if (allowed) return
    if (full && performance.now() - warnedFullAt >= rate.windowMs) {
      warnedFullAt = performance.now()
      request.log.warn({ limit: what, maxKeys: scope.tessera.settings.rateLimitMaxKeys },
        'rate limit counter full: refusing new clients until the oldest window ends')
    }
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
    reply.header('retry-after', seconds)
    throw scope.httpErrors.tooManyRequests(`Too many ${what}: retry in ${seconds} s.`)
  }
}
