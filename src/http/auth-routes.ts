/**
 * `/auth`: log in (when the user store can check credentials), who am I, log out (this device,
 * every device, every other device). The built-in store adds register and password change
 * (`users/builtin/routes.ts`).
 *
 * Protected routes run `authenticate` at `onRequest`, before the body is parsed: a client without
 * a valid token gets its 401 without the server reading, parsing or validating what it sent.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppUser } from '../index.js'
import { toIso } from '../time.js'
import type { AuthToken, ClientContext } from '../tokens/service.js'
import { PASSWORD_MAX_LENGTH, onBehalfOf } from '../users/builtin/passwords.js'
import { ApiError } from '../error-codes.js'
import { AuthenticationError } from '../tokens/failures.js'
import { CredentialsChangedError } from '../users/builtin/store.js'
import type { TesseraUser } from '../users/builtin/user.js'
import { deviceFromUserAgent } from './device.js'
import { byClientAddress, limitBy, type LimitHook } from './rate-limits.js'
import { ErrorResponse, LoginBody, NoContent, SerializedUser, User, USERNAME_MAX_LENGTH, authErrors, scopedErrors, userSchemas } from './schemas.js'

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

/** A 401 to a login, with the challenge of HTTP Basic (the only scheme login takes besides a JSON body). */
function refuseLogin (reply: FastifyReply, code: 'BAD_CREDENTIALS' | 'USER_INACTIVE', message: string): never {
  reply.header('www-authenticate', 'Basic realm="tessera", charset="UTF-8"')
  throw new ApiError(code, message)
}

/**
 * The user behind a login's credentials, or a 401: `BAD_CREDENTIALS`, or `USER_INACTIVE` for the
 * right password of a user who may not sign in (the store throws `AuthenticationError('inactive')`).
 */
async function checkLogin<T> (reply: FastifyReply, check: () => Promise<T | null | undefined>): Promise<T> {
  let user
  try {
    user = await check()
  } catch (error) {
    if (error instanceof AuthenticationError && error.failure === 'inactive') return refuseLogin(reply, 'USER_INACTIVE', error.message)
    // The password was changed while it was being verified.
    if (error instanceof CredentialsChangedError) return refuseLogin(reply, 'BAD_CREDENTIALS', BAD_CREDENTIALS)
    throw error
  }
  if (user === null || user === undefined) return refuseLogin(reply, 'BAD_CREDENTIALS', BAD_CREDENTIALS)
  return user
}

export interface AuthRouteOptions {
  /** The authenticate hook alone (for routes other services call: no per-token limit). */
  authenticate: LimitHook
  /** The `onRequest` hooks of a token-protected route: authenticate, then the per-token rate limit. */
  protect: LimitHook[]
  /** `protect`, then a check that the token holds `scope`. */
  protectedBy: (scope: string) => LimitHook[]
  /** The request property that holds the user (`decoratorName`, default `user`). */
  userDecorator: string
  /**
   * The per-username login limit. One counter for every request that tries a password for a
   * username: a login's, and a built-in user's password change (a wrong current password is a
   * guess like any other).
   */
  limitByUsername: LimitHook
}

/**
 * The username a request tries a password for: the authenticated built-in user's on a password
 * change, else the login's credentials'.
 */
export function usernameTried (request: FastifyRequest, userDecorator: string): string {
  const user = (request as unknown as Record<string, { username?: unknown } | null>)[userDecorator]
  if (typeof user?.username === 'string') return user.username
  return credentialsOf(request)?.username ?? ''
}

/** Runs argon2 work in a bounded queue that takes turns between client addresses. */
export async function asClient<T> (request: FastifyRequest, work: () => Promise<T>): Promise<T> {
  return await onBehalfOf(byClientAddress(request), work)
}

/** The client a change comes from, as the activity log and a new session record it. */
export function clientOf (request: FastifyRequest): ClientContext {
  return { address: request.ip, userAgent: request.headers['user-agent'] }
}

/**
 * The device label of a new session: the one the client named, else one derived from its
 * User-Agent. An empty or blank name counts as none (Dio and shared request builders send `""`).
 */
export function deviceOf (request: FastifyRequest, named: string | undefined): string {
  return named === undefined || named.trim() === '' ? deviceFromUserAgent(request.headers['user-agent']) : named
}

/** What `GET /auth/me` shows of the token making the request. */
function currentSession (token: AuthToken) {
  return {
    id: token.id,
    device: token.device,
    createdAt: new Date(token.createdAt).toISOString(),
    expiry: toIso(token.expiresAt),
    lastUsedAt: toIso(token.lastUsedAt),
    scopes: token.scopes
  }
}

const routes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (fastify, { protect, protectedBy, userDecorator, limitByUsername }) => {
  const { tokens, users, builtinUsers, settings } = fastify.tessera
  const show = (user: AppUser): object => users.serialize?.(user) ?? { id: users.idOf(user) }
  const userOf = (request: FastifyRequest): AppUser => (request as unknown as Record<string, AppUser>)[userDecorator]!
  const { MeResponse, IssuedToken } = userSchemas(builtinUsers === undefined ? SerializedUser : User)

  const verifyCredentials = users.verifyCredentials
  if (verifyCredentials !== undefined) {
    const limitLoginByAddress = limitBy(fastify, {
      name: 'login-address', rate: settings.loginRateLimit, what: 'login attempts from this address', key: byClientAddress
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
          throw new ApiError('VALIDATION_FAILED', 'body must have both username and password')
        }
      },
      preHandler: limitByUsername
    }, async (request, reply) => {
      const credentials = credentialsOf(request)
      if (credentials === undefined) return refuseLogin(reply, 'BAD_CREDENTIALS', NO_CREDENTIALS)

      const client = clientOf(request)
      const user = await checkLogin(reply, async () =>
        await asClient(request, async () => await verifyCredentials.call(users, credentials.username, credentials.password, client)))
      const options = { device: deviceOf(request, request.body.device), ...client }
      if (builtinUsers === undefined) return { user: show(user), ...(await tokens.issue(user, options)) }
      const issued = await checkLogin(reply, async () => await builtinUsers.logIn(user as TesseraUser, options))
      return { user: show(user), ...issued }
    })
  }

  fastify.get('/me', {
    schema: {
      summary: 'The user the token belongs to, and the session of that token (its id, its expiry as this request left it)',
      tags: ['auth'],
      security: [{ token: [] }],
      response: { 200: MeResponse, ...authErrors }
    },
    onRequest: protect
  }, async (request) => ({ user: show(userOf(request)), session: currentSession(request.authToken!) }))

  fastify.post('/logout', {
    schema: { summary: 'Revoke the token this request is made with', tags: ['auth'], security: [{ token: [] }], response: { 204: NoContent, ...authErrors } },
    onRequest: protect
  }, async (request, reply) => {
    await tokens.logout(request.authToken!, clientOf(request))
    return reply.code(204).send(null)
  })

  fastify.post('/logoutall', {
    schema: { summary: "Revoke every one of the user's tokens", tags: ['auth'], security: [{ token: ['sessions'] }], response: { 204: NoContent, ...scopedErrors } },
    onRequest: protectedBy('sessions')
  }, async (request, reply) => {
    await tokens.revokeAll(request.authToken!.subject, clientOf(request))
    return reply.code(204).send(null)
  })

  fastify.post('/logoutothers', {
    schema: { summary: "Revoke every one of the user's tokens except this one", tags: ['auth'], security: [{ token: ['sessions'] }], response: { 204: NoContent, ...scopedErrors } },
    onRequest: protectedBy('sessions')
  }, async (request, reply) => {
    const { subject, id } = request.authToken!
    await tokens.revokeAll(subject, { except: id, ...clientOf(request) })
    return reply.code(204).send(null)
  })
}

export default routes
