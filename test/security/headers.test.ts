/**
 * Response headers (audit item 16): every response of tessera's /auth routes says
 * `Cache-Control: no-store` (they carry tokens, sessions and the user), and every response of the
 * service says `X-Content-Type-Options: nosniff`.
 */
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { auth, buildTestApp, login, register, uniqueName } from '../helpers/app.js'

t.test('every /auth response, success or error, is no-store and nosniff', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_TOKEN_RATE_LIMIT: '6/1m' })
  const username = uniqueName()
  const inject = app.inject.bind(app)
  const registered = await inject({ method: 'POST', url: '/auth/register', payload: { username, password: 'correct horse battery' } })
  const { token } = await login(app, username)
  const responses: Array<[string, LightMyRequestResponse]> = [
    ['register', registered],
    ['login', await inject({ method: 'POST', url: '/auth/login', payload: { username, password: 'correct horse battery' } })],
    ['me', await inject({ method: 'GET', url: '/auth/me', headers: auth(token) })],
    ['tokens', await inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })],
    ['a failed login (401)', await inject({ method: 'POST', url: '/auth/login', payload: { username, password: 'wrong password' } })],
    ['no token (401)', await inject({ method: 'GET', url: '/auth/me' })],
    ['a bad body (400)', await inject({ method: 'POST', url: '/auth/register', payload: { username: '' } })],
    ['a taken username (409)', await inject({ method: 'POST', url: '/auth/register', payload: { username, password: 'correct horse battery' } })]
  ]
  for (let i = 0; i < 5; i++) await inject({ method: 'GET', url: '/auth/me', headers: auth(token) })
  responses.push(['rate limited (429)', await inject({ method: 'GET', url: '/auth/me', headers: auth(token) })])
  const other = await register(app)
  responses.push(['logout (204)', await inject({ method: 'POST', url: '/auth/logout', headers: auth(other.token) })])

  t.same(responses.map(([, response]) => response.statusCode), [201, 200, 200, 200, 401, 401, 400, 409, 429, 204])
  for (const [name, response] of responses) {
    t.equal(response.headers['cache-control'], 'no-store', `${name}: no-store`)
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${name}: nosniff`)
  }
})

t.test('every response of the service is nosniff; only /auth is no-store', async (t) => {
  const { app } = await buildTestApp(t)
  const cases: Array<[string, number]> = [['/healthz', 200], ['/nowhere', 404], ['/auth/nowhere', 404], ['/docs/json', 200], ['/docs', 200]]
  for (const [url, status] of cases) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, status, url)
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
  }
  const docsAsset = await app.inject({ method: 'GET', url: '/docs/static/index.html' })
  t.equal(docsAsset.headers['x-content-type-options'], 'nosniff', `a documentation asset (${docsAsset.statusCode}): nosniff`)
  const unsupported = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'hello' })
  t.equal(unsupported.statusCode, 415)
  t.equal(unsupported.headers['x-content-type-options'], 'nosniff', '415: nosniff')
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).headers['cache-control'], undefined, '/healthz keeps its cacheability')
})
