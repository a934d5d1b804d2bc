/**
 * `/auth/tokens`: the caller's sessions (one per token), minting a personal access token for a
 * script, renaming one session, and revoking one. All of them need the scope `sessions`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import { ApiError } from '../error-codes.js'
import type { AppUser } from '../index.js'
import { parseOptionalDuration } from '../settings.js'
import { missingScopes } from '../tokens/scopes.js'
import { clientOf, type AuthRouteOptions } from './auth-routes.js'
import { CreateTokenBody, CreatedToken, ErrorResponse, NoContent, RenameTokenBody, Session, TokenIdParams, scopedErrors } from './schemas.js'

const routes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (fastify, { protectedBy, userDecorator }) => {
  const { tokens } = fastify.tessera
  const withSessions = protectedBy('sessions')

  fastify.get('/tokens', {
    schema: {
      summary: "The caller's live sessions, newest first; `current` marks the one making this request",
      tags: ['sessions'],
      security: [{ token: ['sessions'] }],
      response: { 200: Type.Array(Session), ...scopedErrors }
    },
    onRequest: withSessions
  }, async (request) => {
    const { id: currentId, subject } = request.authToken!
    const sessions = await tokens.list(subject)
    return sessions.map((session) => ({ ...session, current: session.id === currentId }))
  })

  fastify.post('/tokens', {
    schema: {
      summary: 'Mint a personal access token for the caller, with at most the scopes of the token making the request',
      tags: ['sessions'],
      security: [{ token: ['sessions'] }],
      body: CreateTokenBody,
      response: { 201: CreatedToken, 400: ErrorResponse, ...scopedErrors }
    },
    onRequest: withSessions
  }, async (request, reply) => {
    const { device, scopes, ttl } = request.body
    const ungranted = missingScopes(request.authToken!.scopes, scopes)
    if (ungranted.length > 0) {
      throw new ApiError('INSUFFICIENT_SCOPE', `A token can grant only scopes it holds itself; this one lacks ${ungranted.map((scope) => `"${scope}"`).join(', ')}.`)
    }
    const lifetime = ttl === undefined ? undefined : parseOptionalDuration(ttl)
    if (lifetime === undefined && ttl !== undefined) throw new ApiError('VALIDATION_FAILED', `ttl: ${JSON.stringify(ttl)} is not a duration`)
    const user = (request as unknown as Record<string, AppUser>)[userDecorator]!
    const options = { device, scopes, recordAs: 'token_created' as const, ...clientOf(request) }
    const issued = await tokens.issue(user, lifetime === undefined ? options : { ...options, ttl: lifetime })
    return await reply.code(201).send({ ...issued, device })
  })

  fastify.patch('/tokens/:id', {
    schema: {
      summary: 'Rename one of the caller\'s sessions (give it a device label a person recognises)',
      tags: ['sessions'],
      security: [{ token: ['sessions'] }],
      params: TokenIdParams,
      body: RenameTokenBody,
      response: { 200: Session, 400: ErrorResponse, 404: ErrorResponse, ...scopedErrors }
    },
    onRequest: withSessions
  }, async (request) => {
    const { id: currentId, subject } = request.authToken!
    // Another user's session answers exactly like one that does not exist.
    const renamed = await tokens.rename(request.params.id, request.body.device, { subject, ...clientOf(request) })
    if (renamed === undefined) throw new ApiError('NOT_FOUND', 'No such session.')
    return { ...renamed, current: renamed.id === currentId }
  })

  fastify.delete('/tokens/:id', {
    schema: {
      summary: 'Revoke one of the caller\'s sessions (log out that device)',
      tags: ['sessions'],
      security: [{ token: ['sessions'] }],
      params: TokenIdParams,
      response: { 204: NoContent, 400: ErrorResponse, 404: ErrorResponse, ...scopedErrors }
    },
    onRequest: withSessions
  }, async (request, reply) => {
    // Another user's session answers exactly like one that does not exist.
    const revoked = await tokens.revoke(request.params.id, { subject: request.authToken!.subject, ...clientOf(request) })
    if (!revoked) throw new ApiError('NOT_FOUND', 'No such session.')
    return reply.code(204).send(null)
  })
}

export default routes
