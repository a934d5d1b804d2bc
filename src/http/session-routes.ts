/** `/auth/tokens`: the caller's sessions (one per token), and revoking one of them. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { AuthRouteOptions } from './auth-routes.js'
import { ErrorResponse, NoContent, Session, TokenIdParams, authErrors } from './schemas.js'

const routes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (fastify, { protect }) => {
  const { tokens } = fastify.tessera

  fastify.get('/tokens', {
    schema: {
      summary: "The caller's live sessions, newest first; `current` marks the one making this request",
      tags: ['sessions'],
      security: [{ token: [] }],
      response: { 200: Type.Array(Session), ...authErrors }
    },
    onRequest: protect
  }, async (request) => {
    const { id: currentId, subject } = request.authToken!
    const sessions = await tokens.list(subject)
    return sessions.map((session) => ({ ...session, current: session.id === currentId }))
  })

  fastify.delete('/tokens/:id', {
    schema: {
      summary: 'Revoke one of the caller\'s sessions (log out that device)',
      tags: ['sessions'],
      security: [{ token: [] }],
      params: TokenIdParams,
      response: { 204: NoContent, 400: ErrorResponse, 404: ErrorResponse, ...authErrors }
    },
    onRequest: protect
  }, async (request, reply) => {
    // Another user's session answers exactly like one that does not exist.
    const revoked = await tokens.revoke(request.params.id, { subject: request.authToken!.subject })
    if (!revoked) throw fastify.httpErrors.notFound('No such session.')
    return reply.code(204).send(null)
  })
}

export default routes
