/**
 * CORS for web-wrapped apps (issue 15): `TESSERA_CORS_ORIGINS` lists the origins whose pages may
 * call tessera's routes; by default there is no CORS header at all.
 */
import Fastify from 'fastify'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import tessera from '../../src/index.js'
import { auth, buildTestApp, freshDatabaseUrl, register } from '../helpers/app.js'

const ORIGINS = 'capacitor://localhost, https://app.example.com'
const CORS_HEADERS = /^access-control-/

function preflight (origin: string | undefined, url = '/auth/login', method = 'POST', headers = 'authorization, content-type') {
  return {
    method: 'OPTIONS' as const,
    url,
    headers: {
      ...(origin === undefined ? {} : { origin }),
      'access-control-request-method': method,
      'access-control-request-headers': headers
    }
  }
}

const corsHeadersOf = (headers: Record<string, unknown>): string[] => Object.keys(headers).filter((name) => CORS_HEADERS.test(name))

t.test('an allowed origin: the preflight is answered, with Authorization and Content-Type allowed', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_CORS_ORIGINS: ORIGINS })
  for (const origin of ['capacitor://localhost', 'https://app.example.com']) {
    for (const [url, method] of [['/auth/login', 'POST'], ['/auth/me', 'GET'], ['/auth/tokens/6f1c2a3e-0000-4000-8000-000000000000', 'PATCH'], ['/auth/tokens/6f1c2a3e-0000-4000-8000-000000000000', 'DELETE']] as const) {
      const response = await app.inject(preflight(origin, url, method))
      t.equal(response.statusCode, 204, `${origin} ${method} ${url}`)
      t.equal(response.headers['access-control-allow-origin'], origin, 'the origin echoed, never *')
      t.match(response.headers['access-control-allow-methods'], new RegExp(`\\b${method}\\b`))
      t.match(String(response.headers['access-control-allow-headers']).toLowerCase(), /^(?=.*\bauthorization\b)(?=.*\bcontent-type\b)/)
      t.equal(response.headers['access-control-allow-credentials'], undefined, 'no credentials mode')
      t.match(response.headers.vary, /origin/i, 'caches keep answers to different origins apart')
      t.ok(Number(response.headers['access-control-max-age']) > 0)
      t.equal(response.body, '')
    }
  }
})

t.test('an allowed origin: real answers carry the CORS headers, refusals included', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_CORS_ORIGINS: ORIGINS })
  const origin = 'capacitor://localhost'
  const { token } = await register(app)
  const ok = await app.inject({ method: 'GET', url: '/auth/me', headers: { origin, ...auth(token) } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['access-control-allow-origin'], origin)
  t.match(ok.headers['access-control-expose-headers'], /WWW-Authenticate/i, 'a page may read why its token was refused')
  const refused = await app.inject({ method: 'GET', url: '/auth/me', headers: { origin, authorization: 'Token nope' } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['access-control-allow-origin'], origin, 'a 401 is readable by the page, so it can log in again')
  t.equal(refused.headers['www-authenticate'], 'Token')
  const invalid = await app.inject({ method: 'POST', url: '/auth/login', headers: { origin }, payload: { username: 'x', password: 'y', device: 42 } })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.headers['access-control-allow-origin'], origin)
  t.equal(ok.headers['access-control-allow-credentials'], undefined)
})

t.test('a refused origin gets no Access-Control-Allow-Origin, on a preflight or otherwise', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_CORS_ORIGINS: ORIGINS })
  const { token } = await register(app)
  for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.example', 'http://app.example.com', 'null', 'capacitor://localhost:1']) {
    const answer = await app.inject(preflight(origin))
    t.equal(answer.headers['access-control-allow-origin'], undefined, `preflight from ${origin}`)
    t.same(corsHeadersOf(answer.headers), [], 'no CORS header at all')
    t.equal(answer.statusCode, 404, 'the preflight is not answered')
    t.type(answer.json().message, 'string', 'a JSON error like any other')
    const real = await app.inject({ method: 'GET', url: '/auth/me', headers: { origin, ...auth(token) } })
    t.equal(real.statusCode, 200, 'the server still answers (CORS is enforced by browsers)')
    t.same(corsHeadersOf(real.headers), [], `no CORS header for ${origin}`)
  }
  const noOrigin = await app.inject(preflight(undefined))
  t.equal(noOrigin.statusCode, 404, 'an OPTIONS without an Origin is no preflight')
  t.same(corsHeadersOf(noOrigin.headers), [])
})

t.test('unset (the default): no CORS headers at all, as before', async (t) => {
  const { app, config } = await buildTestApp(t)
  t.same(config.settings.corsOrigins, [])
  const { token } = await register(app)
  const answer = await app.inject(preflight('https://app.example.com'))
  t.equal(answer.statusCode, 404)
  t.same(corsHeadersOf(answer.headers), [])
  const real = await app.inject({ method: 'GET', url: '/auth/me', headers: { origin: 'https://app.example.com', ...auth(token) } })
  t.equal(real.statusCode, 200)
  t.same(corsHeadersOf(real.headers), [])
})

t.test('only tessera\'s routes: the service\'s own /healthz and the OpenAPI document stay as they were', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_CORS_ORIGINS: ORIGINS })
  const health = await app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'capacitor://localhost' } })
  t.same(corsHeadersOf(health.headers), [])
  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, unknown>> }>()
  const options = Object.entries(document.paths).filter(([, operations]) => 'options' in operations).map(([path]) => path)
  t.same(options, [], 'the preflight route is not documented')
})

t.test('TESSERA_CORS_ORIGINS: a comma-separated list of origins, checked at startup', async (t) => {
  t.same(loadConfig({}).settings.corsOrigins, [], 'empty by default')
  t.same(loadConfig({ TESSERA_CORS_ORIGINS: ' ' }).settings.corsOrigins, [])
  t.same(loadConfig({ TESSERA_CORS_ORIGINS: 'capacitor://localhost,https://app.example.com' }).settings.corsOrigins,
    ['capacitor://localhost', 'https://app.example.com'])
  t.same(loadConfig({ TESSERA_CORS_ORIGINS: 'HTTPS://App.Example.com, http://localhost:8100, ionic://localhost, http://[::1]:3000,' }).settings.corsOrigins,
    ['https://app.example.com', 'http://localhost:8100', 'ionic://localhost', 'http://[::1]:3000'], 'as browsers write them: lower case')
  const problemsOf = (value: string): string[] => {
    try {
      loadConfig({ TESSERA_CORS_ORIGINS: value })
    } catch (error) {
      if (error instanceof ConfigError) return error.problems
      throw error
    }
    return []
  }
  t.match(problemsOf('*'), [/^TESSERA_CORS_ORIGINS="\*" is refused: .*list the origins/])
  t.match(problemsOf('https://app.example.com,*'), [/is refused/])
  for (const value of ['https://app.example.com/', 'https://app.example.com/path', 'app.example.com', 'null', 'https://', 'https://a b.com', 'https://*.example.com']) {
    t.match(problemsOf(value), [/^TESSERA_CORS_ORIGINS=.* is not valid: expected a comma-separated list of origins/], value)
  }
})

t.test('the plugin takes corsOrigins too, checked like every option', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(tessera, { databaseUrl: url, corsOrigins: ['https://app.example.com'], sweepInterval: null, loginRateLimit: null })
  const answer = await app.inject(preflight('https://app.example.com'))
  t.equal(answer.statusCode, 204)
  t.equal(answer.headers['access-control-allow-origin'], 'https://app.example.com')
  for (const corsOrigins of [['*'], ['https://App.example.com'], ['https://app.example.com/'], 'https://app.example.com']) {
    const bad = Fastify()
    t.teardown(() => bad.close())
    await t.rejects(async () => {
      await bad.register(tessera, { databaseUrl: url, corsOrigins: corsOrigins as string[] })
      await bad.ready()
    }, /invalid options: corsOrigins/, JSON.stringify(corsOrigins))
  }
})
