/**
 * A door for every other service, whatever its language:
 * - `POST /auth/introspect` (RFC 7662): a service holding a token with the scope `introspect`
 *   asks whether another token is live, and whose it is;
 * - `GET /auth/verify` (and `HEAD`): forward authentication for reverse proxies (nginx
 *   `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`, Envoy `ext_authz`): 204 with the
 *   user in `X-Tessera-*` headers, or 401/403.
 *
 * Both run the same hot path as `app.authenticate` and count as a use of the token they check
 * (`lastUsedAt`, sliding expiry). Neither counts against the per-token limit of the sessions API:
 * a proxy calls `/auth/verify` once per request of the service it protects.
 */
import formbody from '@fastify/formbody'
import { Type, type FastifyPluginAsyncTypebox, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppUser } from '../index.js'
import type { AuthRouteOptions } from './auth-routes.js'
import { checkScopes, requireScopes } from './scopes.js'
import {
  BadRequest, IntrospectBody, Introspection, MissingScope, Unauthorized, Unavailable, VerifyQuery, answer, bodyErrors, errorAnswer, noContent
} from './schemas.js'

/**
 * A header value for any text: characters outside printable ASCII (a username may be any letter)
 * are percent-encoded as UTF-8, which Node would otherwise refuse in a header.
 */
function headerValue (text: string): string {
  return text.replace(/[^\x20-\x7e]|%/gu, (char) => encodeURIComponent(char))
}

const routes: FastifyPluginAsyncTypebox<Pick<AuthRouteOptions, 'authenticate' | 'userDecorator'>> = async (fastify, { authenticate, userDecorator }) => {
  const { tokens, users } = fastify.tessera
  /** The username of a user, where the store shows one. */
  const usernameOf = (user: AppUser): string | undefined => {
    const shown = (users.serialize?.(user) ?? user) as { username?: unknown }
    return typeof shown.username === 'string' ? shown.username : undefined
  }

  // The form body of RFC 7662 is parsed in this scope only: tessera's other routes take JSON alone.
  await fastify.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: 4096 })
    scope.withTypeProvider<TypeBoxTypeProvider>().post('/introspect', {
      schema: {
        operationId: 'introspect',
        summary: 'RFC 7662 token introspection, for other services: is this token live, and whose is it?',
        description: 'The caller authenticates with its own token, which needs the scope `introspect`. The body is ' +
          '`token=<token>` (application/x-www-form-urlencoded) or `{"token": "…"}`.',
        tags: ['services'],
        security: [{ token: ['introspect'] }],
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        body: IntrospectBody,
        response: {
          200: answer(Introspection, 'The token, or `{"active": false}` alone'),
          ...bodyErrors,
          413: errorAnswer('The body is too large (over 4 KiB form-encoded, 16 KiB as JSON)'),
          401: Unauthorized,
          403: MissingScope,
          503: Unavailable
        }
      },
      onRequest: [authenticate, requireScopes('introspect')]
    }, async (request) => {
      const found = await tokens.verify(request.body.token)
      if (found === null) return { active: false }
      const { user, token } = found
      const username = usernameOf(user)
      return {
        active: true,
        sub: token.subject,
        ...(username === undefined ? {} : { username }),
        scope: token.scopes.join(' '),
        ...(token.expiresAt === null ? {} : { exp: Math.floor(token.expiresAt / 1000) }),
        iat: Math.floor(token.createdAt / 1000),
        token_type: 'Token' as const,
        token_id: token.id,
        device: token.device
      }
    })
  })

  const verify = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // Validated against VerifyQuery before the handler runs.
    const { scope } = request.query as Static<typeof VerifyQuery>
    if (scope !== undefined) checkScopes(request, reply, typeof scope === 'string' ? [scope] : scope)
    const token = request.authToken!
    const username = usernameOf((request as unknown as Record<string, AppUser>)[userDecorator]!)
    reply.header('x-tessera-user-id', headerValue(token.subject))
    if (username !== undefined) reply.header('x-tessera-username', headerValue(username))
    reply.header('x-tessera-token-id', token.id)
    reply.header('x-tessera-scopes', token.scopes.join(' '))
    await reply.code(204).send(null)
  }
  const verifySchema = {
    operationId: 'verify',
    summary: 'Forward authentication for reverse proxies: 204 with the user in X-Tessera-* headers, or 401/403',
    description: 'Reads `Authorization` as `app.authenticate` does. `?scope=a&scope=b`: the token must hold each. ' +
      'Answers HEAD the same way, and any path below it (Envoy\'s ext_authz appends the request\'s own path).',
    tags: ['services'],
    security: [{ token: [] }],
    querystring: VerifyQuery,
    response: {
      204: noContent('The token is live and holds the scopes asked for: who it is, in headers for the proxy to pass on', {
        'X-Tessera-User-Id': Type.String({ description: "The user's id (percent-encoded outside printable ASCII)" }),
        'X-Tessera-Username': Type.String({ description: 'The username, where the user store shows one (percent-encoded outside printable ASCII)' }),
        'X-Tessera-Token-Id': Type.String({ format: 'uuid', description: "The token's public id" }),
        'X-Tessera-Scopes': Type.String({ description: "The token's scopes, space-separated" })
      }),
      400: BadRequest,
      401: Unauthorized,
      403: MissingScope,
      503: Unavailable
    }
  }
  fastify.get('/verify', { schema: verifySchema, onRequest: authenticate }, verify)
  // Envoy's HTTP ext_authz asks `<path_prefix><the request's path>`: the same answer, undocumented twice.
  fastify.get('/verify/*', { schema: { ...verifySchema, hide: true }, onRequest: authenticate }, verify)
}

export default routes
