/**
 * `app.requireScopes(...scopes)`: a hook to put after `app.authenticate`. A token lacking any of
 * the scopes gets 403, with `WWW-Authenticate: Token error="insufficient_scope", scope="…"` in the
 * form of RFC 6750 3.1:
 *
 * ```ts
 * app.get('/orders', { preHandler: [app.authenticate, app.requireScopes('orders:read')] }, listOrders)
 * ```
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { missingScopes, scopesProblem } from '../tokens/scopes.js'

/** A token that lacks a scope the route requires. */
export class InsufficientScopeError extends Error {
  readonly statusCode = 403
  readonly code = 'INSUFFICIENT_SCOPE'
  constructor (readonly missing: readonly string[]) {
    super(missing.length === 1
      ? `This token lacks the scope "${missing[0]}".`
      : `This token lacks the scopes ${missing.map((scope) => `"${scope}"`).join(', ')}.`)
    this.name = 'InsufficientScopeError'
  }
}

/** The `WWW-Authenticate` challenge of a 403 for want of `required`. */
export function insufficientScopeChallenge (required: readonly string[]): string {
  return `Token error="insufficient_scope", scope="${required.join(' ')}"`
}

/** Refuses the request (403) unless its token holds every one of `required`. */
export function checkScopes (request: FastifyRequest, reply: FastifyReply, required: readonly string[]): void {
  const token = request.authToken
  if (token === null) throw new Error('requireScopes runs after app.authenticate: put it after it in the route\'s hooks')
  const missing = missingScopes(token.scopes, required)
  if (missing.length === 0) return
  reply.header('www-authenticate', insufficientScopeChallenge(required))
  throw new InsufficientScopeError(missing)
}

export type ScopeHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** Builds the hook; refuses, at once, a scope that no token could hold. */
export function requireScopes (...required: string[]): ScopeHook {
  const problem = scopesProblem(required)
  if (problem !== undefined) throw new TypeError(`requireScopes: ${problem}`)
  return async (request, reply) => checkScopes(request, reply, required)
}
