/**
 * Scoped tokens: every token carries scopes; `POST /auth/tokens` mints a personal access token
 * with at most the caller's scopes; tessera's own routes need `sessions` or `password`;
 * `app.requireScopes` guards an application's routes.
 */
import t from 'tap'
import { PASSWORD, auth, buildTestApp, me, register, uniqueName } from '../helpers/app.js'

const mint = async (app: Awaited<ReturnType<typeof buildTestApp>>['app'], token: string, payload: Record<string, unknown>) =>
  await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(token), payload })

t.test('register and login tokens carry the default scopes, * unless TESSERA_DEFAULT_SCOPES says otherwise', async (t) => {
  const { app } = await buildTestApp(t)
  const registered = await register(app)
  t.same((registered as unknown as { scopes: string[] }).scopes, ['*'])
  const listed = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(registered.token) })).json()
  t.same(listed[0].scopes, ['*'])

  const narrow = await buildTestApp(t, {}, { TESSERA_DEFAULT_SCOPES: 'sessions, orders:read' })
  const username = uniqueName()
  const issued = (await narrow.app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })).json()
  t.same(issued.scopes, ['orders:read', 'sessions'], 'sorted')
  const login = (await narrow.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).json()
  t.same(login.scopes, ['orders:read', 'sessions'])
})

t.test('POST /auth/tokens mints a personal access token with at most the caller\'s scopes', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 4 })
  const { token, user } = await register(app)
  const created = await mint(app, token, { device: 'ci job', scopes: ['orders:write', 'sessions', 'orders:read'], ttl: '2m' })
  t.equal(created.statusCode, 201)
  const body = created.json()
  t.same(Object.keys(body).sort(), ['device', 'expiry', 'scopes', 'token', 'tokenId'])
  t.same(body.scopes, ['orders:read', 'orders:write', 'sessions'])
  t.equal(body.device, 'ci job')
  const left = Date.parse(body.expiry) - Date.now()
  t.ok(left > 100_000 && left <= 120_000, `ttl 2m: ${left} ms left`)
  t.equal((await me(app, body.token)).json().user.id, user.id, 'the new token is the caller\'s')

  const forever = (await mint(app, token, { device: 'forever', scopes: ['orders:read'], ttl: 'none' })).json()
  t.equal(forever.expiry, null)

  // A scoped caller grants a subset, never more, never *.
  t.equal((await mint(app, body.token, { device: 'sub', scopes: ['orders:read'] })).statusCode, 201)
  const wider = await mint(app, body.token, { device: 'wider', scopes: ['orders:read', 'admin'] })
  t.equal(wider.statusCode, 403)
  t.match(wider.json().message, /"admin"/)
  t.equal((await mint(app, body.token, { device: 'all', scopes: ['*'] })).statusCode, 403, 'only a * token grants *')
  t.equal((await mint(app, token, { device: 'limit', scopes: ['x'] })).statusCode, 403, 'it counts toward the per-user token limit (4)')
})

t.test('POST /auth/tokens refuses bad scopes, ttls and bodies with 400', async (t) => {
  const { app } = await buildTestApp(t)
  const { token } = await register(app)
  for (const payload of [
    { device: 'x', scopes: [] },
    { device: 'x', scopes: ['Orders'] },
    { device: 'x', scopes: ['a'.repeat(65)] },
    { device: 'x', scopes: ['has space'] },
    { device: 'x', scopes: Array.from({ length: 33 }, (_, i) => `s${i}`) },
    { device: 'x', scopes: ['ok'], ttl: '10 years' },
    { device: 'x', scopes: ['ok'], ttl: '0s' },
    { scopes: ['ok'] },
    { device: 'x' }
  ]) {
    const response = await mint(app, token, payload)
    t.equal(response.statusCode, 400, JSON.stringify(payload).slice(0, 80))
  }
})

t.test("tessera's own routes: me and logout with any token; sessions and password need their scope", async (t) => {
  const { app } = await buildTestApp(t)
  const { token: all } = await register(app)
  const readOnly = (await mint(app, all, { device: 'reader', scopes: ['orders:read'] })).json().token
  const sessions = (await mint(app, all, { device: 'manager', scopes: ['sessions'] })).json().token

  t.equal((await me(app, readOnly)).statusCode, 200)
  const refusals = [
    { method: 'GET', url: '/auth/tokens' },
    { method: 'POST', url: '/auth/tokens', payload: { device: 'x', scopes: ['orders:read'] } },
    { method: 'DELETE', url: '/auth/tokens/00000000-0000-4000-8000-000000000000' },
    { method: 'POST', url: '/auth/logoutothers' },
    { method: 'POST', url: '/auth/logoutall' }
  ] as const
  for (const request of refusals) {
    const response = await app.inject({ ...request, headers: auth(readOnly) })
    t.equal(response.statusCode, 403, `${request.method} ${request.url}`)
    t.equal(response.headers['www-authenticate'], 'Token error="insufficient_scope", scope="sessions"')
    t.same(Object.keys(response.json()).sort(), ['code', 'error', 'message', 'statusCode'])
    t.equal(response.json().code, 'INSUFFICIENT_SCOPE')
    t.match(response.json().message, /"sessions"/)
  }
  const password = await app.inject({ method: 'POST', url: '/auth/password', headers: auth(sessions), payload: { currentPassword: PASSWORD, newPassword: 'another passphrase' } })
  t.equal(password.statusCode, 403)
  t.equal(password.headers['www-authenticate'], 'Token error="insufficient_scope", scope="password"')
  t.equal((await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(sessions) })).statusCode, 200, 'a sessions token lists')
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(readOnly) })).statusCode, 204, 'any token logs itself out')
  t.equal((await me(app, readOnly)).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/auth/password', headers: auth(all), payload: { currentPassword: PASSWORD, newPassword: 'another passphrase' } })).statusCode, 204,
    'a * token has password')
})

t.test('app.requireScopes guards an application route; request.authToken.scopes holds the token\'s', async (t) => {
  const { app } = await buildTestApp(t)
  app.get('/orders', { preHandler: [app.authenticate, app.requireScopes('orders:read', 'orders:write')] }, async (request) => ({ scopes: request.authToken!.scopes }))
  const { token } = await register(app)
  const reader = (await mint(app, token, { device: 'r', scopes: ['orders:read'] })).json().token
  const both = (await mint(app, token, { device: 'rw', scopes: ['orders:read', 'orders:write'] })).json().token
  const refused = await app.inject({ method: 'GET', url: '/orders', headers: auth(reader) })
  t.equal(refused.statusCode, 403)
  t.same(refused.json(), { statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: 'This token lacks the scope "orders:write".' })
  t.equal(refused.headers['www-authenticate'], 'Token error="insufficient_scope", scope="orders:read orders:write"')
  t.same((await app.inject({ method: 'GET', url: '/orders', headers: auth(both) })).json(), { scopes: ['orders:read', 'orders:write'] })
  t.same((await app.inject({ method: 'GET', url: '/orders', headers: auth(token) })).json(), { scopes: ['*'] })
  t.equal((await app.inject({ method: 'GET', url: '/orders' })).statusCode, 401, 'no token: 401 first')
  t.throws(() => app.requireScopes('Not A Scope'), /requireScopes/)
})
