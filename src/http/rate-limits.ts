/**
 * Rate limits on tessera's routes, counted by @fastify/rate-limit's store:
 * - login: per client address (before the body is read) and per username (so that one address
 *   cannot spray many accounts, nor many addresses one account);
 * - register: per client address;
 * - authenticated routes: per token, with a higher limit.
 *
 * Two limits on one route need two counters; the plugin's own `rateLimit()` hook runs only once
 * per request, so these hooks apply `createRateLimit()` limiters themselves.
 */
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Rate } from '../settings.js'

export type LimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

const unlimited: LimitHook = async () => {}

/** Registers the store in `scope` (encapsulated: the host app's own limits are untouched). */
export async function registerRateLimits (scope: FastifyInstance): Promise<void> {
  await scope.register(rateLimit, { global: false })
}

/**
 * A hook allowing `rate` requests per window for each key; past it, 429 with `Retry-After`.
 * `null` rate: no limit.
 */
export function limitBy (scope: FastifyInstance, rate: Rate | null, what: string, key: (request: FastifyRequest) => string): LimitHook {
  if (rate === null) return unlimited
  const limiter = scope.createRateLimit({ max: rate.max, timeWindow: rate.windowMs, keyGenerator: key })
  return async (request, reply) => {
    const result = await limiter(request)
    if (result.isAllowed || !result.isExceeded) return
    reply.header('retry-after', result.ttlInSeconds)
    throw scope.httpErrors.tooManyRequests(`Too many ${what}: retry in ${result.ttlInSeconds} s.`)
  }
}
