/**
 * `/auth`: register, log in, who am I, log out (this device, every device, every other device),
 * change password.
 *
 * Protected routes run `authenticate` at `onRequest`, before the body is parsed: a client without
 * a valid token gets its 401 without the server reading, parsing or validating what it sent.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { TokenLimitError } from '../tokens/service.js'
import { deviceFromUserAgent } from './device.js'
import { PASSWORD_MAX_LENGTH, onBehalfOf } from '../users/builtin/passwords.js'
import { toTesseraUser } from '../users/builtin/user.js'
import { usernameKey } from '../users/builtin/repository.js'
import { byClientAddress, limitBy, type LimitHook } from './rate-limits.js'
import {
  ChangePasswordBody, ErrorResponse, IssuedToken, LoginBody, MeResponse, NoContent, RegisterBody,
  USERNAME_MAX_LENGTH, authErrors
} from './schemas.js'

const BAD_CREDENTIALS = 'Unable to log in with the provided credentials.'
const NO_CREDENTIALS =
  'Log in with a username and password, in the JSON body or as HTTP Basic credentials; a token cannot log in.'

interface Credentials {
  username: string
  password: string
}

/** `Authorization: Basic base64(username:password)`, or `undefined` when absent or malformed. */
function basicCredentials (header: string | undefined): Credentials | undefined {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 1) return undefined
  const username = decoded.slice(0, colon)
  const password = decoded.slice(colon + 1)
  if (username.length > USERNAME_MAX_LENGTH || password.length === 0 || password.length > PASSWORD_MAX_LENGTH) return undefined
  return { username, password }
}

/** The credentials of a login: from the JSON body, else from HTTP Basic. */
function credentialsOf (request: FastifyRequest): Credentials | undefined {
  const { username, password } = request.body as LoginBody
  if (username !== undefined && password !== undefined) return { username, password }
  return basicCredentials(request.headers.authorization)
}

function refuseLogin (reply: FastifyReply, message: string): never {
  reply.header('www-authenticate', 'Basic realm="tessera", charset="UTF-8"')
  throw reply.server.httpErrors.unauthorized(message)
}

export interface AuthRouteOptions {
  /** The `onRequest` hooks of a token-protected route: authenticate, then the per-token rate limit. */
  protect: LimitHook[]
}

const routes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (fastify, { protect }) => {
  const { accounts, settings } = fastify.tessera
  const limitLoginByAddress = limitBy(fastify, settings.loginRateLimit, 'login attempts from this address', byClientAddress)
  // One counter for the username a request tries a password for: the credentials' on a login, the
  // authenticated user's on a password change (a wrong current password is a guess like any other).
  const limitLoginByUsername = limitBy(fastify, settings.loginRateLimit, 'login attempts for this username', (request) =>
    usernameKey(request.user?.username ?? credentialsOf(request)?.username ?? ''))
  const limitRegistrationByAddress = limitBy(fastify, settings.loginRateLimit, 'registrations from this address', byClientAddress)
  const deviceOf = (request: FastifyRequest, named: string | undefined): string =>
    named ?? deviceFromUserAgent(request.headers['user-agent'])
  // argon2 work waits its turn in a bounded queue that takes turns between client addresses.
  const asClient = async <T>(request: FastifyRequest, work: () => Promise<T>): Promise<T> =>
    await onBehalfOf(byClientAddress(request), work)

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
      if (settings.registration === 'closed') throw fastify.httpErrors.forbidden('Registration is closed.')
    }
  }, async (request, reply) => {
    const { username, password, email, device } = request.body
    const created = await asClient(request, () => accounts.register({ username, password, email }, { device: deviceOf(request, device) }))
    if (created === undefined) throw fastify.httpErrors.conflict('A user with that username already exists.')
    return reply.code(201).send(created)
  })

  fastify.post('/login', {
    schema: {
      summary: 'Log in with a username and password (JSON body or HTTP Basic) and get a new token for this device',
      tags: ['auth'],
      body: LoginBody,
      response: { 200: IssuedToken, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    onRequest: limitLoginByAddress,
    // With HTTP Basic credentials there may be no body at all: validate that as an empty one.
    preValidation: async (request) => {
      if (request.body === undefined) request.body = {}
      const body: unknown = request.body
      if (typeof body !== 'object' || body === null) return // the schema refuses it next
      if (('username' in body) !== ('password' in body)) {
        throw fastify.httpErrors.badRequest('body must have both username and password')
      }
    },
    preHandler: limitLoginByUsername
  }, async (request, reply) => {
    const credentials = credentialsOf(request)
    if (credentials === undefined) return refuseLogin(reply, NO_CREDENTIALS)

    const row = await asClient(request, () => accounts.verifyPassword(credentials.username, credentials.password))
    if (row === undefined) return refuseLogin(reply, BAD_CREDENTIALS)
    const user = toTesseraUser(row)
    try {
      const issued = await accounts.issueToken(user, { device: deviceOf(request, request.body.device) })
      return { user, ...issued }
    } catch (error) {
      if (error instanceof TokenLimitError) throw fastify.httpErrors.forbidden(error.message)
      throw error
    }
  })

  fastify.get('/me', {
    schema: { summary: 'The user the token belongs to', tags: ['auth'], security: [{ token: [] }], response: { 200: MeResponse, ...authErrors } },
    onRequest: protect
  }, async (request) => ({ user: request.user! }))

  fastify.post('/logout', {
    schema: { summary: 'Revoke the token this request is made with', tags: ['auth'], security: [{ token: [] }], response: { 204: NoContent, ...authErrors } },
    onRequest: protect
  }, async (request, reply) => {
    await accounts.logout(request.user!.id, request.authToken!.id)
    return reply.code(204).send(null)
  })

  fastify.post('/logoutall', {
    schema: { summary: "Revoke every one of the user's tokens", tags: ['auth'], security: [{ token: [] }], response: { 204: NoContent, ...authErrors } },
    onRequest: protect
  }, async (request, reply) => {
    await accounts.logoutAll(request.user!.id)
    return reply.code(204).send(null)
  })

  fastify.post('/logoutothers', {
    schema: { summary: "Revoke every one of the user's tokens except this one", tags: ['auth'], security: [{ token: [] }], response: { 204: NoContent, ...authErrors } },
    onRequest: protect
  }, async (request, reply) => {
    await accounts.logoutOthers(request.user!.id, request.authToken!.id)
    return reply.code(204).send(null)
  })

  fastify.post('/password', {
    schema: {
      summary: 'Change the password; every other token of the user is revoked, this one lives',
      tags: ['auth'],
      security: [{ token: [] }],
      body: ChangePasswordBody,
      response: { 204: NoContent, 400: ErrorResponse, 403: ErrorResponse, ...authErrors }
    },
    onRequest: protect,
    preHandler: limitLoginByUsername
  }, async (request, reply) => {
    const { currentPassword, newPassword } = request.body
    const changed = await asClient(request, () => accounts.changePassword(request.user!.id, currentPassword, newPassword, request.authToken!.id))
    if (!changed) throw fastify.httpErrors.forbidden('The current password is wrong.')
    return reply.code(204).send(null)
  })
}

export default routes
