/**
 * The OpenAPI document (`GET /docs/json`): valid OpenAPI 3.1; clean under Redocly's recommended
 * rules (the real `redocly lint` runs on it); every route with every answer it gives, its
 * operation id and its security; the shapes clients meet again and again as named components
 * referred to by `$ref`; the headers where they are sent; and the body errors it documents are
 * the ones the routes really answer.
 */
import swagger from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import Fastify from 'fastify'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ERROR_CODES } from '../src/error-codes.js'
import tessera, { NAMED_COMPONENTS, SECURITY_SCHEMES, shapeDocument } from '../src/index.js'
import { PASSWORD, auth, buildTestApp, freshDatabaseUrl, register } from './helpers/app.js'
import { ROOT, run } from './helpers/package.js'

interface Schema {
  $ref?: string
  type?: string
  items?: Schema
  required?: string[]
  properties?: Record<string, Schema>
}
interface Response {
  description: string
  headers?: Record<string, { description?: string, schema: Schema }>
  content?: Record<string, { schema: Schema }>
}
interface Operation {
  operationId?: string
  security?: Array<Record<string, string[]>>
  requestBody?: { required?: boolean, content: Record<string, { schema: Schema }> }
  parameters?: Array<{ in: string, name: string, required?: boolean }>
  responses: Record<string, Response>
}
interface Document {
  openapi: string
  info: { license?: { name: string, identifier?: string } }
  servers?: Array<{ url: string }>
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema>, securitySchemes: Record<string, Record<string, string>> }
}

/**
 * Every route of the service: its operation id, every response code its schema declares, and the
 * scopes its token needs (`scopes` absent: a public route).
 */
const ROUTES: Array<{ method: string, path: string, id: string, codes: number[], scopes?: string[], body?: string[] }> = [
  { method: 'post', path: '/auth/register', id: 'register', codes: [201, 400, 403, 409, 413, 415, 429, 503], body: ['username', 'password', 'email', 'device'] },
  { method: 'post', path: '/auth/login', id: 'login', codes: [200, 400, 401, 403, 413, 415, 429, 503], body: ['username', 'password', 'device'] },
  { method: 'get', path: '/auth/me', id: 'me', codes: [200, 401, 429, 503], scopes: [] },
  { method: 'post', path: '/auth/logout', id: 'logout', codes: [204, 400, 401, 413, 415, 429, 503], scopes: [] },
  { method: 'post', path: '/auth/logoutall', id: 'logoutAll', codes: [204, 400, 401, 403, 413, 415, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/logoutothers', id: 'logoutOthers', codes: [204, 400, 401, 403, 413, 415, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/password', id: 'changePassword', codes: [204, 400, 401, 403, 413, 415, 429, 503], scopes: ['password'], body: ['currentPassword', 'newPassword'] },
  { method: 'get', path: '/auth/tokens', id: 'listTokens', codes: [200, 401, 403, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/tokens', id: 'createToken', codes: [201, 400, 401, 403, 413, 415, 429, 503], scopes: ['sessions'], body: ['device', 'scopes', 'ttl'] },
  { method: 'patch', path: '/auth/tokens/{id}', id: 'renameToken', codes: [200, 400, 401, 403, 404, 413, 415, 429, 503], scopes: ['sessions'], body: ['device'] },
  { method: 'delete', path: '/auth/tokens/{id}', id: 'revokeToken', codes: [204, 400, 401, 403, 404, 413, 415, 429, 503], scopes: ['sessions'] },
  { method: 'get', path: '/auth/activity', id: 'listActivity', codes: [200, 400, 401, 403, 429, 503], scopes: ['sessions'] },
  { method: 'post', path: '/auth/introspect', id: 'introspect', codes: [200, 400, 401, 403, 413, 415, 503], scopes: ['introspect'], body: ['token', 'token_type_hint'] },
  { method: 'get', path: '/auth/verify', id: 'verify', codes: [204, 400, 401, 403, 503], scopes: [] },
  { method: 'get', path: '/healthz', id: 'healthz', codes: [200, 431, 503] }
]

/** The named shapes, and where each must be referred to. */
const COMPONENTS = ['User', 'Session', 'Error', 'IssuedToken', 'CreatedToken', 'Introspection']

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })

/** Every operation of the document, with its method and path. */
function operations (document: Document): Array<{ name: string, method: string, path: string, operation: Operation }> {
  return Object.entries(document.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, method, path, operation })))
}

async function documentOf (t: Parameters<typeof buildTestApp>[0]): Promise<Document> {
  const { app } = await buildTestApp(t)
  return (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>()
}

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

t.test('redocly lint, with its recommended rules, finds no error and no warning', async (t) => {
  const document = await documentOf(t)
  const dir = mkdtempSync(join(tmpdir(), 'tessera-openapi-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'openapi.json')
  writeFileSync(file, JSON.stringify(document))
  // The recommended rules, whatever configuration lies around; no telemetry, no update check.
  const result = await run(process.execPath, [join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', '--extends=recommended', '--format=json', file], {
    cwd: dir,
    env: { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }
  })
  const report = JSON.parse(result.stdout) as { totals: { errors: number, warnings: number }, problems: Array<{ ruleId: string, message: string, location: unknown }> }
  t.same(report.problems.map((problem) => `${problem.ruleId}: ${problem.message} ${JSON.stringify(problem.location)}`), [], 'no problem')
  t.same(report.totals, { errors: 0, warnings: 0, ignored: 0 })
  t.equal(result.code, 0, 'redocly lint passes')
})

t.test('every route is documented with every response it can give, its operation id and its security', async (t) => {
  const document = await documentOf(t)
  const all = operations(document)
  t.same(all.map((entry) => entry.name).sort(), ROUTES.map((route) => `${route.method.toUpperCase()} ${route.path}`).sort(),
    'exactly the service routes, and not the docs routes themselves nor /metrics')

  const ids = all.map((entry) => entry.operation.operationId)
  t.ok(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id)), 'every operation has an operationId')
  t.equal(new Set(ids).size, ids.length, 'operation ids are unique')

  for (const route of ROUTES) {
    const name = `${route.method.toUpperCase()} ${route.path}`
    const operation = document.paths[route.path]?.[route.method]
    if (operation === undefined) continue
    t.equal(operation.operationId, route.id, `${name}: operationId`)
    t.same(Object.keys(operation.responses).sort(), route.codes.map(String).sort(), `${name}: response codes`)
    for (const [code, response] of Object.entries(operation.responses)) {
      t.ok(response.description.length > 0 && response.description !== 'Default Response', `${name} ${code}: described`)
      if (code === '204') t.equal(response.content, undefined, `${name} ${code}: no body`)
      else t.ok(response.content?.['application/json']?.schema, `${name} ${code}: a JSON schema`)
    }
    for (const code of route.codes.filter((code) => code >= 400)) {
      t.same(operation.responses[code]?.content?.['application/json']?.schema, ref('Error'), `${name} ${code}: the Error component`)
    }
    t.same(operation.security, route.scopes === undefined ? [] : [{ token: route.scopes }, { bearer: route.scopes }],
      `${name}: security (public: [], else the token either way)`)
    if (route.body !== undefined) {
      const schema = operation.requestBody?.content['application/json']?.schema
      t.same(Object.keys(schema?.properties ?? {}).sort(), [...route.body].sort(), `${name}: body fields`)
      t.equal(operation.requestBody?.required, route.id !== 'login', `${name}: body ${route.id === 'login' ? 'optional (HTTP Basic sends none)' : 'required'}`)
    }
  }
  t.match(document.paths['/auth/tokens/{id}']?.delete?.parameters, [{ in: 'path', name: 'id', required: true }], 'the path parameter')
})

t.test('servers and licence are set', async (t) => {
  const document = await documentOf(t)
  t.same(document.servers, [{ url: '/', description: 'This service: where this document is served from' }])
  t.same(document.info.license, { name: 'MIT', identifier: 'MIT' })
})

t.test('shared shapes are named components, referred to by $ref and never written out again', async (t) => {
  const document = await documentOf(t)
  const { schemas } = document.components
  for (const name of COMPONENTS) t.ok(schemas[name], `components.schemas.${name}`)
  const json = (path: string, method: string, code: string): Schema | undefined =>
    document.paths[path]?.[method]?.responses[code]?.content?.['application/json']?.schema
  t.same(json('/auth/login', 'post', '200'), ref('IssuedToken'))
  t.same(json('/auth/register', 'post', '201'), ref('IssuedToken'))
  t.same(json('/auth/me', 'get', '200')?.properties?.user, ref('User'))
  t.same(json('/auth/tokens/{id}', 'patch', '200'), ref('Session'), 'a renamed session')
  t.match(json('/auth/tokens', 'get', '200'), { type: 'array', items: ref('Session') }, 'a list of sessions')
  t.same(json('/auth/tokens', 'post', '201'), ref('CreatedToken'))
  t.same(json('/auth/introspect', 'post', '200'), ref('Introspection'))
  t.same(schemas.IssuedToken?.properties?.user, ref('User'), 'the issued token refers to the user')
  t.match(schemas.IssuedToken, { required: ['user', 'token', 'tokenId', 'expiry', 'scopes'], properties: { token: { type: 'string' }, tokenId: { format: 'uuid' } } })
  t.match(schemas.User, { type: 'object', required: ['id', 'username', 'email', 'createdAt'] })
  t.match(schemas.Session, { type: 'object', properties: { current: { type: 'boolean' } } })
  t.match(schemas.Error, { type: 'object', required: ['statusCode', 'error', 'message', 'code'] })

  // The shapes appear in the operations only as references.
  const paths = JSON.stringify(document.paths)
  for (const property of ['statusCode', 'createdAt', 'tokenId', 'lastUsedAt']) {
    t.notOk(paths.includes(`"${property}":`), `no inline copy of a shape holding ${property} in the operations`)
  }
  t.notOk(/"\$ref":"#\/components\/schemas\/def-\d+"/.test(JSON.stringify(document)), 'no anonymous def-N component')
})

t.test('headers are documented where they are sent', async (t) => {
  const document = await documentOf(t)
  for (const { name, operation } of operations(document)) {
    const scoped = (operation.security ?? []).some((requirement) => (requirement.token?.length ?? 0) > 0)
    for (const [code, response] of Object.entries(operation.responses)) {
      const headers = Object.keys(response.headers ?? {})
      // A 431 is answered before any route is chosen, before the request has an id.
      if (code !== '431') t.ok(headers.includes('X-Request-Id'), `${name} ${code}: X-Request-Id`)
      else t.notOk(headers.includes('X-Request-Id'), `${name} 431: no X-Request-Id`)
      if (code === '401') t.ok(headers.includes('WWW-Authenticate'), `${name} 401: WWW-Authenticate`)
      if (code === '403' && scoped) t.ok(headers.includes('WWW-Authenticate'), `${name} 403: WWW-Authenticate (insufficient_scope)`)
      if (code === '429') t.ok(headers.includes('Retry-After'), `${name} 429: Retry-After`)
    }
  }
  for (const [path, method] of [['/auth/login', 'post'], ['/auth/register', 'post'], ['/auth/password', 'post']] as const) {
    t.ok(document.paths[path]?.[method]?.responses['503']?.headers?.['Retry-After'], `${method.toUpperCase()} ${path} 503: Retry-After (the argon2 queue)`)
  }
  t.match(document.paths['/auth/login']?.post?.responses['401']?.headers?.['WWW-Authenticate']?.description, /Basic realm/)
  t.same(Object.keys(document.paths['/auth/verify']?.get?.responses['204']?.headers ?? {}).sort(),
    ['X-Request-Id', 'X-Tessera-Scopes', 'X-Tessera-Token-Id', 'X-Tessera-User-Id', 'X-Tessera-Username'])
})

t.test('the body errors a route documents are the ones it answers', async (t) => {
  const { app } = await buildTestApp(t)
  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>()
  const { token } = await register(app)
  const withBody = operations(document).filter(({ method }) => ['post', 'put', 'patch', 'delete'].includes(method))
  t.ok(withBody.length >= 9, 'every route that reads a body')
  const bad = {
    400: { 'content-type': 'application/json', payload: '{"unterminated' },
    413: { 'content-type': 'application/json', payload: JSON.stringify({ padding: 'x'.repeat(20 * 1024) }) },
    415: { 'content-type': 'application/xml', payload: '<token/>' }
  }
  for (const { name, method, path, operation } of withBody) {
    const url = path.replace('{id}', '00000000-0000-4000-8000-000000000000')
    for (const [code, { payload, ...headers }] of Object.entries(bad)) {
      const response = await app.inject({ method: method.toUpperCase() as 'POST', url, headers: { ...headers, ...auth(token) }, payload })
      t.equal(response.statusCode, Number(code), `${name}: ${code} for such a body`)
      t.ok(operation.responses[code], `${name}: ${code} documented`)
    }
  }
  const basic = Buffer.from(`${(await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).json<{ user: { username: string } }>().user.username}:${PASSWORD}`).toString('base64')
  const login = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: `Basic ${basic}` } })
  t.equal(login.statusCode, 200, 'a login without a body (HTTP Basic), as its optional body says')
})

t.test('errors document every code and every reason, each with its meaning', async (t) => {
  const document = await documentOf(t)
  t.same(document.paths['/auth/me']?.get?.responses['401']?.content?.['application/json']?.schema, ref('Error'))
  const error = document.components.schemas.Error as { properties: Record<string, { enum?: string[], description?: string }> }
  t.same(error.properties.code?.enum, Object.keys(ERROR_CODES))
  for (const [code, { meaning }] of Object.entries(ERROR_CODES)) t.ok(error.properties.code?.description?.includes(`${code}: ${meaning}`), code)
  t.same(error.properties.reason?.enum, ['logout', 'logout_all', 'logout_others', 'revoked', 'password_changed', 'evicted', 'user_deactivated'])
  t.match(error.properties.reason?.description, /TOKEN_REVOKED/)
})

t.test('the security schemes: Token in an API key, and the standard bearer scheme for a bare token', async (t) => {
  const document = await documentOf(t)
  t.match(document.components.securitySchemes.token, { type: 'apiKey', in: 'header', name: 'Authorization' })
  t.match(document.components.securitySchemes.token?.description, /Token <token>/)
  t.match(document.components.securitySchemes.token?.description, /`sessions`.*`password`.*`introspect`/s, "tessera's own scopes")
  t.match(document.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' })
})

t.test("an application's own @fastify/swagger gets tessera's routes with the same names and schemes", async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(swagger, {
    openapi: { openapi: '3.1.0', info: { title: 'Orders', version: '1.0.0' }, components: { securitySchemes: { ...SECURITY_SCHEMES } } },
    refResolver: NAMED_COMPONENTS,
    transformObject: (document) => shapeDocument('openapiObject' in document ? document.openapiObject : document.swaggerObject)
  })
  await app.register(tessera, { databaseUrl: freshDatabaseUrl(t).url, sweepInterval: null })
  app.get('/orders', { schema: { operationId: 'listOrders', security: [{ token: ['orders'] }], response: { 200: { type: 'array' } } }, preHandler: app.authenticate }, async () => [])
  await app.ready()
  const document = app.swagger() as unknown as Document
  t.same(document.paths['/auth/login']?.post?.responses['200']?.content?.['application/json']?.schema, ref('IssuedToken'))
  t.same(document.paths['/orders']?.get?.security, [{ token: ['orders'] }, { bearer: ['orders'] }], "the application's own routes too")
  t.equal(document.paths['/auth/login']?.post?.requestBody?.required, false)
  t.notOk(JSON.stringify(document).includes('x-optional-body'), 'the mark is gone')
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
