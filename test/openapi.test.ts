import { Validator } from '@seriousme/openapi-schema-validator'
import t from 'tap'
import { ERROR_CODES } from '../src/error-codes.js'
import { buildTestApp } from './helpers/app.js'

interface Operation {
  security?: Array<Record<string, string[]>>
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }
  parameters?: Array<{ in: string, name: string, required?: boolean }>
  responses: Record<string, { description: string, content?: Record<string, { schema: unknown }> }>
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, Record<string, string>> }
}

/**
 * Every route of the service, with every response code its schema declares and the scopes its
 * token needs (`scopes` absent: a public route).
 */
const ROUTES: Array<{ method: string, path: string, codes: number[], scopes?: string[], body?: string[] }> = [
  { method: 'post', path: '/auth/register', codes: [201, 400, 403, 409, 429, 503], body: ['username', 'password', 'email', 'device'] },
  { method: 'post', path: '/auth/login', codes: [200, 400, 401, 403, 429, 503], body: ['username', 'password', 'device'] },
  { method: 'get', path: '/auth/me', codes: [200, 401, 429, 503], scopes: [] },
  { method: 'post', path: '/auth/logout', codes: [204, 401, 429, 503], scopes: [] },
  { method: 'post', path: '/auth/logoutall', codes: [204, 401, 403, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/logoutothers', codes: [204, 401, 403, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/password', codes: [204, 400, 401, 403, 429, 503], scopes: ['password'], body: ['currentPassword', 'newPassword'] },
  { method: 'get', path: '/auth/tokens', codes: [200, 401, 403, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/tokens', codes: [201, 400, 401, 403, 429, 503], scopes: ['sessions'], body: ['device', 'scopes', 'ttl'] },
  { method: 'patch', path: '/auth/tokens/{id}', codes: [200, 400, 401, 403, 404, 429, 503], scopes: ['sessions'], body: ['device'] },
  { method: 'delete', path: '/auth/tokens/{id}', codes: [204, 400, 401, 403, 404, 429, 503], scopes: ['sessions'] },
  { method: 'get', path: '/auth/activity', codes: [200, 400, 401, 403, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/introspect', codes: [200, 400, 401, 403, 413, 415, 503], scopes: ['introspect'], body: ['token', 'token_type_hint'] },
  { method: 'get', path: '/auth/verify', codes: [204, 400, 401, 403, 503], scopes: [] },
  { method: 'get', path: '/healthz', codes: [200, 503] }
]

t.test('GET /docs/json is a valid OpenAPI 3.1 document', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  const document = response.json<Document>()
  t.equal(document.openapi, '3.1.0')
  const result = await new Validator().validate(document as unknown as Parameters<Validator['validate']>[0])
  t.same(result.errors, undefined, 'no schema violations')
  t.equal(result.valid, true)
})

t.test('every route is documented with every response it can give', async (t) => {
  const { app } = await buildTestApp(t)
  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>()

  const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`)).sort()
  t.same(documented, ROUTES.map((route) => `${route.method.toUpperCase()} ${route.path}`).sort(),
    'exactly the service routes, and not the docs routes themselves')

  for (const route of ROUTES) {
    const name = `${route.method.toUpperCase()} ${route.path}`
    const operation = document.paths[route.path]?.[route.method]
    if (operation === undefined) continue
    t.same(Object.keys(operation.responses).sort(), route.codes.map(String).sort(), `${name}: response codes`)
    for (const [code, response] of Object.entries(operation.responses)) {
      t.ok(response.description.length > 0, `${name} ${code}: described`)
      if (code === '204') t.equal(response.content, undefined, `${name} 204: no body`)
      else t.ok(response.content?.['application/json']?.schema, `${name} ${code}: a JSON schema`)
    }
    for (const code of route.codes.filter((code) => code >= 400)) {
      t.match(operation.responses[code]?.content?.['application/json']?.schema,
        { type: 'object', required: ['statusCode', 'error', 'message', 'code'] }, `${name} ${code}: the error shape`)
    }
    t.same(operation.security, route.scopes === undefined ? undefined : [{ token: route.scopes }], `${name}: security`)
    if (route.body !== undefined) {
      const schema = operation.requestBody?.content['application/json']?.schema
      t.same(Object.keys(schema?.properties ?? {}).sort(), [...route.body].sort(), `${name}: body fields`)
    }
  }

  const revoke = document.paths['/auth/tokens/{id}']?.delete
  t.match(revoke?.parameters, [{ in: 'path', name: 'id', required: true }], 'the path parameter')
  const issued = document.paths['/auth/login']?.post?.responses['200']?.content?.['application/json']?.schema
  t.match(issued, { properties: { token: { type: 'string' }, tokenId: { format: 'uuid' }, user: { type: 'object' } } })
})

t.test("errors document every code and every reason, each with its meaning", async (t) => {
  const { app } = await buildTestApp(t)
  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>()
  const error = document.paths['/auth/me']?.get?.responses['401']?.content?.['application/json']?.schema as {
    properties: Record<string, { enum?: string[], description?: string }>
  }
  t.same(error.properties.code?.enum, Object.keys(ERROR_CODES))
  for (const [code, { meaning }] of Object.entries(ERROR_CODES)) t.ok(error.properties.code?.description?.includes(`${code}: ${meaning}`), code)
  t.same(error.properties.reason?.enum, ['logout', 'logout_all', 'logout_others', 'revoked', 'password_changed', 'evicted', 'user_deactivated'])
  t.match(error.properties.reason?.description, /TOKEN_REVOKED/)
})

t.test('the token security scheme says how to send a token', async (t) => {
  const { app } = await buildTestApp(t)
  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>()
  t.match(document.components.securitySchemes.token, { type: 'apiKey', in: 'header', name: 'Authorization' })
  t.match(document.components.securitySchemes.token?.description, /Token <token>/)
  t.match(document.components.securitySchemes.token?.description, /`sessions`.*`password`.*`introspect`/s, "tessera's own scopes")
})

t.test('/docs serves the browsable UI, and the document as YAML too', async (t) => {
  const { app } = await buildTestApp(t)
  const ui = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /^text\/html/)
  t.match(ui.body, /swagger/i)
  const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
  t.equal(bundle.statusCode, 200, 'the UI assets ship with the package: no CDN needed')
  const yaml = await app.inject({ method: 'GET', url: '/docs/yaml' })
  t.equal(yaml.statusCode, 200)
  t.match(yaml.body, /^openapi: 3\.1\.0/m)
})
