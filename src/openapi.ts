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
 * or, having its own @fastify/swagger set-up, adds `SECURITY_SCHEMES` under
 * `components.securitySchemes`, `NAMED_COMPONENTS` as its `refResolver`, and passes its document
 * through `shapeDocument` (`transformObject`): tessera's routes already declare their schemas,
 * operation ids and `security`.
 *
 * The document passes Redocly's recommended rules (a test lints it): every operation has an
 * `operationId` and a `security` (`[]` for public ones), and the shapes clients meet again and
 * again are named components (`User`, `Session`, `Error`, `IssuedToken`, `CreatedToken`,
 * `Introspection`) that operations refer to, so that generators emit one named type each.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { OPTIONAL_BODY } from './http/schemas.js'

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

/**
 * The same token as `Authorization: Bearer <token>`: the standard scheme, which generated clients
 * and Swagger UI's "Authorize" dialog take as a bare token.
 */
export const BEARER_SECURITY_SCHEME = {
  type: 'http',
  scheme: 'bearer',
  bearerFormat: 'tessera token (tsr_…)',
  description: 'The same token, sent as `Authorization: Bearer <token>`: in the "Authorize" dialog, enter the token alone.'
} as const

/** Every operation that takes a token takes it either way: `token` or `bearer`, with the same scopes. */
export const SECURITY_SCHEMES = { token: TOKEN_SECURITY_SCHEME, bearer: BEARER_SECURITY_SCHEME } as const

/** @fastify/swagger's `refResolver`: a schema with an `$id` becomes the component of that name. */
export const NAMED_COMPONENTS = {
  buildLocalReference: (json: { $id?: unknown }, _baseUri: unknown, _fragment: unknown, i: number): string =>
    typeof json.$id === 'string' ? json.$id : `def-${i}`
}

export interface OpenApiOptions {
  /** The document's `info` (default: tessera's own title, version and licence). */
  info?: { title: string, version: string, description?: string, license?: { name: string, identifier?: string, url?: string } }
  /** Where the UI is served; the document is at `<routePrefix>/json` (default `/docs`). */
  routePrefix?: string
  /** The document's `servers` (default: `/`, wherever the document itself is served from). */
  servers?: Array<{ url: string, description?: string }>
  /** Whether every answer carries `X-Request-Id` (the service's do), to document it on each. */
  requestIds?: boolean
}

const DESCRIPTION = 'Per-device, hashed, revocable auth tokens. Log in (or register) to get a token for ' +
  'one device, send it as `Authorization: Token <token>`, list your sessions (with where each was made and ' +
  'last used from), rename and revoke them, log out everywhere. The token is shown once; the server keeps ' +
  'only its SHA-256 digest. Browsers and web views on the origins in `TESSERA_CORS_ORIGINS` may call it (CORS).'

const REQUEST_ID_HEADER = {
  description: "This request's id, in every line the server logs about it: the caller's own `X-Request-Id` when it is " +
    'up to 128 letters, digits and `. _ : -`, else a new UUID',
  schema: { type: 'string' }
}

/** Answers given before any route is chosen (by the client error handler), so without a request id. */
const ANSWERED_BEFORE_ROUTING = new Set(['408', '431'])

type JsonObject = Record<string, unknown>

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * `{ allOf: [{ $ref }] }`, which `answer` (http/schemas.ts) leaves where a response's whole body is
 * a named shape, becomes the plain `{ $ref }` it stands for.
 */
function plainReference (schema: unknown): unknown {
  if (!isObject(schema) || !Array.isArray(schema.allOf) || schema.allOf.length !== 1) return schema
  const [only] = schema.allOf as unknown[]
  const others = Object.keys(schema).filter((key) => key !== 'allOf' && key !== 'description')
  return isObject(only) && typeof only.$ref === 'string' && others.length === 0 ? { $ref: only.$ref } : schema
}

/** Each `token` requirement gets its `bearer` twin: the same token, the same scopes, either way. */
function withBearer (security: unknown): unknown {
  if (!Array.isArray(security)) return security
  return security.flatMap((requirement: unknown) =>
    isObject(requirement) && 'token' in requirement && !('bearer' in requirement)
      ? [requirement, { bearer: requirement.token }]
      : [requirement])
}

/**
 * The last touches @fastify/swagger cannot make from route schemas: named shapes referred to
 * plainly, the `bearer` scheme beside `token`, login's optional body (`OPTIONAL_BODY`), and, with
 * `requestIds`, `X-Request-Id` on every answer.
 */
export function shapeDocument<T extends JsonObject> (document: T, options: { requestIds?: boolean } = {}): T {
  const paths = isObject(document.paths) ? document.paths : {}
  for (const path of Object.values(paths)) {
    if (!isObject(path)) continue
    for (const operation of Object.values(path)) {
      if (!isObject(operation)) continue
      if ('security' in operation) operation.security = withBearer(operation.security)
      if (isObject(operation.requestBody)) {
        if (operation[OPTIONAL_BODY] === true) operation.requestBody.required = false
        for (const media of Object.values(isObject(operation.requestBody.content) ? operation.requestBody.content : {})) {
          if (isObject(media)) media.schema = plainReference(media.schema)
        }
      }
      delete operation[OPTIONAL_BODY]
      for (const [status, response] of Object.entries(isObject(operation.responses) ? operation.responses : {})) {
        if (!isObject(response)) continue
        for (const media of Object.values(isObject(response.content) ? response.content : {})) {
          if (isObject(media)) media.schema = plainReference(media.schema)
        }
        if (options.requestIds === true && !ANSWERED_BEFORE_ROUTING.has(status)) {
          response.headers = { 'X-Request-Id': REQUEST_ID_HEADER, ...(isObject(response.headers) ? response.headers : {}) }
        }
      }
    }
  }
  return document
}

async function openapi (fastify: FastifyInstance, options: OpenApiOptions): Promise<void> {
  const {
    info = { title: 'tessera', version: '0.1.0', description: DESCRIPTION, license: { name: 'MIT', identifier: 'MIT' } },
    routePrefix = '/docs',
    servers = [{ url: '/', description: 'This service: where this document is served from' }],
    requestIds = false
  } = options
  await fastify.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema 2020-12, so TypeBox's `{ type: 'null' }` unions are valid as they are.
      openapi: '3.1.0',
      info,
      servers,
      tags: [
        { name: 'auth', description: 'Register, log in, who am I, log out, change password' },
        { name: 'sessions', description: "The caller's tokens, one per device (with the addresses and User-Agent they came from), and personal access tokens" },
        { name: 'services', description: 'For other services and reverse proxies: introspection and forward auth' },
        { name: 'health', description: 'Liveness' }
      ],
      components: { securitySchemes: { token: { ...TOKEN_SECURITY_SCHEME }, bearer: { ...BEARER_SECURITY_SCHEME } } }
    },
    refResolver: NAMED_COMPONENTS,
    transformObject: (document) => shapeDocument(('openapiObject' in document ? document.openapiObject : document.swaggerObject) as JsonObject, { requestIds })
  })
  await fastify.register(swaggerUi, { routePrefix, uiConfig: { deepLinking: true } })
}

export default fp(openapi, { fastify: '5.x', name: 'tessera-openapi' })
