/**
 * `GET /auth/activity`: the caller's activity log (logins, failed logins, logouts, revocations,
 * password changes), newest first, a page at a time. Needs the scope `sessions`, as the list of
 * sessions does: both show where and when the account was used.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuthRouteOptions } from './auth-routes.js'
import { ActivityPage, ActivityQuery, BadRequest, answer, scopedErrors } from './schemas.js'

const routes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (fastify, { protectedBy }) => {
  const { activity } = fastify.tessera

  fastify.get('/activity', {
    schema: {
      operationId: 'listActivity',
      summary: "The caller's activity log, newest first; follow `next` with `before` for older entries",
      tags: ['sessions'],
      security: [{ token: ['sessions'] }],
      querystring: ActivityQuery,
      response: { 200: answer(ActivityPage, 'A page of entries, newest first, and the cursor of the next'), 400: BadRequest, ...scopedErrors }
    },
    onRequest: protectedBy('sessions')
  }, async (request) => {
    const { limit, before } = request.query
    return await activity.page(request.authToken!.subject, { ...(limit === undefined ? {} : { limit }), ...(before === undefined ? {} : { before }) })
  })
}

export default routes
