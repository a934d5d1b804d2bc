/**
 * The built-in user store's own routes: `POST /auth/register` and `POST /auth/password`. They are
 * registered only when tessera keeps the users itself; an application that brings its own users
 * owns sign-up and passwords.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ApiError } from '../../error-codes.js'
import { asClient, clientOf, deviceOf, type AuthRouteOptions } from '../../http/auth-routes.js'
import { byClientAddress, limitBy } from '../../http/rate-limits.js'
import { ChangePasswordBody, ErrorResponse, NoContent, RegisterBody, User, scopedErrors, userSchemas } from '../../http/schemas.js'
import type { BuiltinUsers } from './store.js'
import type { TesseraUser } from './user.js'

const routes: FastifyPluginAsyncTypebox<AuthRouteOptions & { builtinUsers: BuiltinUsers }> = async (fastify, { protectedBy, userDecorator, limitByUsername, builtinUsers }) => {
  const { settings } = fastify.tessera
  const { IssuedToken } = userSchemas(User)
  const limitRegistrationByAddress = limitBy(fastify, {
    name: 'register-address', rate: settings.loginRateLimit, what: 'registrations from this address', key: byClientAddress
  })

  fastify.post('/register', {
    schema: {
      summary: 'Create a user and their first token',
      tags: ['auth'],
      body: RegisterBody,
      response: { 201: IssuedToken, 400: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    onRequest: limitRegistrationByAddress,
    // Closed registration answers 403 whatever the body holds.
    preValidation: async () => {
      if (settings.registration === 'closed') throw new ApiError('REGISTRATION_CLOSED', 'Registration is closed.')
    }
  }, async (request, reply) => {
    const { username, password, email, device } = request.body
    const created = await asClient(request, async () => await builtinUsers.register({ username, password, email }, { device: deviceOf(request, device), ...clientOf(request) }))
    if (created === undefined) throw new ApiError('USERNAME_TAKEN', 'A user with that username already exists.')
    return reply.code(201).send(created)
  })

  fastify.post('/password', {
    schema: {
      summary: 'Change the password; every other token of the user is revoked, this one lives',
      tags: ['auth'],
      security: [{ token: ['password'] }],
      body: ChangePasswordBody,
      response: { 204: NoContent, 400: ErrorResponse, ...scopedErrors }
    },
    onRequest: protectedBy('password'),
    preHandler: limitByUsername
  }, async (request, reply) => {
    const { currentPassword, newPassword } = request.body
    const user = (request as unknown as Record<string, TesseraUser>)[userDecorator]!
    const changed = await asClient(request, async () => await builtinUsers.changePassword(user, currentPassword, newPassword, request.authToken!.id, clientOf(request)))
    if (!changed) throw new ApiError('BAD_CREDENTIALS', 'The current password is wrong.', { status: 403 })
    return reply.code(204).send(null)
  })
}

export default routes
