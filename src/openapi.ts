/**
 * The API documentation: an OpenAPI 3.1 document built by @fastify/swagger from every route's
 * TypeBox schemas, served at `GET /docs/json` (and `/docs/yaml`), and a browsable Swagger UI at
 * `/docs`.
 *
 * The service registers it (`buildApp`). The `tessera` plugin does not, because an application
 * that embeds tessera owns its own documentation: registering @fastify/swagger twice fails, and
 * not every application wants `/docs` public. Such an application either registers this plugin
 * *before* tessera:
 *
 * ```ts
 * await app.register(openapi, { info: { title: 'Orders', version: '1.0.0' } })
 * await app.register(tessera, { databaseUrl })
 * ```
 *
 * or, having its own @fastify/swagger set-up, adds `TOKEN_SECURITY_SCHEME` under
 * `components.securitySchemes.token`: tessera's routes already declare their schemas and
 * `security: [{ token: [] }]`.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * How tessera's protected routes are called: `Authorization: Token <token>`. "Token" is not a
 * registered HTTP authentication scheme, so OpenAPI can only describe it as a header-borne key;
 * in Swagger UI's "Authorize" dialog, type `Token ` and then the token.
 */
export const TOKEN_SECURITY_SCHEME = {
  type: 'apiKey',
  in: 'header',
  name: 'Authorization',
  description: 'A token from `POST /auth/login`, `POST /auth/register`, `POST /auth/tokens` or `tessera token create`, ' +
    'sent as `Authorization: Token <token>` (`Bearer <token>` is accepted too). ' +
    'In the "Authorize" dialog, enter `Token ` followed by the token.\n\n' +
    'Every token carries scopes; an operation lists the ones it needs. tessera\'s own: `sessions` (list, mint, rename and revoke ' +
    'sessions, log out everywhere), `password` (change the password), `introspect` (inspect other tokens, for services). ' +
    '`*` holds every scope; register and login tokens have `TESSERA_DEFAULT_SCOPES` (`*` unless set).'
} as const

export interface OpenApiOptions {
  /** The document's `info` (default: tessera's own title and version). */
  info?: { title: string, version: string, description?: string }
  /** Where the UI is served; the document is at `<routePrefix>/json` (default `/docs`). */
  routePrefix?: string
}

const DESCRIPTION = 'Per-device, hashed, revocable auth tokens. Log in (or register) to get a token for ' +
  'one device, send it as `Authorization: Token <token>`, list your sessions (with where each was made and ' +
  'last used from), rename and revoke them, log out everywhere. The token is shown once; the server keeps ' +
  'only its SHA-256 digest. Browsers and web views on the origins in `TESSERA_CORS_ORIGINS` may call it (CORS).'

async function openapi (fastify: FastifyInstance, options: OpenApiOptions): Promise<void> {
  const { info = { title: 'tessera', version: '0.1.0', description: DESCRIPTION }, routePrefix = '/docs' } = options
  await fastify.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema 2020-12, so TypeBox's `{ type: 'null' }` unions are valid as they are.
      openapi: '3.1.0',
      info,
      tags: [
        { name: 'auth', description: 'Register, log in, who am I, log out, change password' },
        { name: 'sessions', description: "The caller's tokens, one per device (with the addresses and User-Agent they came from), and personal access tokens" },
        { name: 'services', description: 'For other services and reverse proxies: introspection and forward auth' },
        { name: 'health', description: 'Liveness' }
      ],
      components: { securitySchemes: { token: { ...TOKEN_SECURITY_SCHEME } } }
    }
  })
  await fastify.register(swaggerUi, { routePrefix, uiConfig: { deepLinking: true } })
}

export default fp(openapi, { fastify: '5.x', name: 'tessera-openapi' })
