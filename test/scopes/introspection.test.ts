/**
 * RFC 7662 introspection (`POST /auth/introspect`) and forward authentication (`GET /auth/verify`)
 * for other services.
 */
import t from 'tap'
import { PASSWORD, auth, buildTestApp, register } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

type App = Awaited<ReturnType<typeof buildTestApp>>['app']

async function serviceToken (app: App, ownerToken: string, scopes = ['introspect']): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(ownerToken), payload: { device: 'orders-service', scopes, ttl: 'none' } })
  return response.json().token
}

const introspect = async (app: App, caller: string | undefined, token: string, form = true) =>
  await app.inject({
    method: 'POST',
    url: '/auth/introspect',
    headers: { ...(caller === undefined ? {} : auth(caller)), 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    payload: form ? `token=${encodeURIComponent(token)}` : JSON.stringify({ token })
  })

t.test('a live token: everything RFC 7662 asks for, from a form body or JSON; no-store', async (t) => {
  const { app } = await buildTestApp(t, { minRefreshInterval: 1 })
  const service = await register(app)
  const caller = await serviceToken(app, service.token)
  const alice = await register(app)
  const scoped = (await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(alice.token), payload: { device: 'Pixel 8', scopes: ['sessions', 'orders:read'] } })).json()

  const answer = await introspect(app, caller, scoped.token)
  t.equal(answer.statusCode, 200)
  t.equal(answer.headers['cache-control'], 'no-store')
  const body = answer.json()
  t.same(Object.keys(body).sort(), ['active', 'device', 'exp', 'iat', 'scope', 'sub', 'token_id', 'token_type', 'username'])
  t.equal(body.active, true)
  t.equal(body.sub, String(alice.user.id))
  t.equal(body.username, alice.user.username)
  t.equal(body.scope, 'orders:read sessions')
  t.equal(body.token_type, 'Token')
  t.equal(body.token_id, scoped.tokenId)
  t.equal(body.device, 'Pixel 8')
  t.equal(body.exp, Math.floor(Date.parse(scoped.expiry) / 1000))
  t.ok(Math.abs(body.iat - Date.now() / 1000) < 60)
  t.same((await introspect(app, caller, scoped.token, false)).json(), body, 'JSON body, same answer')

  const forever = (await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(alice.token), payload: { device: 'x', scopes: ['a'], ttl: 'none' } })).json()
  t.notOk('exp' in (await introspect(app, caller, forever.token)).json(), 'no exp for a token that never expires')

  // Introspection is a use of the inspected token.
  const lastUsed = async () => (await app.tessera.tokens.list(String(alice.user.id))).find((s) => s.id === forever.tokenId)!.lastUsedAt
  t.not(await lastUsed(), null, 'lastUsedAt recorded')
})

t.test('anything but a live token: {active: false} and nothing else', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { clock: clock.now })
  const service = await register(app)
  const caller = (await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(service.token), payload: { device: 's', scopes: ['introspect'], ttl: 'none' } })).json().token
  const revoked = await register(app)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(revoked.token) })
  // Only this one expires: the others are told apart from an expired token.
  const expired = await app.tessera.tokens.issue((await register(app)).user, { device: 'short', ttl: 3_600_000 })
  const inactive = await register(app)
  await app.tessera.builtinUsers!.deactivate(inactive.user.id)
  clock.advance(3_600_000)
  const cases: Array<[string, string]> = [
    ['unknown', 'tsr_' + 'A'.repeat(43) + 'AAAAAA'],
    ['malformed', 'not a token at all'],
    ['empty', ''],
    ['revoked', revoked.token],
    ['expired', expired.token],
    ['inactive user', inactive.token]
  ]
  for (const [what, token] of cases) {
    const answer = await introspect(app, caller, token)
    t.equal(answer.statusCode, 200, what)
    t.same(answer.json(), { active: false }, what)
  }
})

t.test('the caller needs its own token with the scope introspect', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await register(app)
  const noScope = await serviceToken(app, owner.token, ['orders:read'])
  const none = await introspect(app, undefined, owner.token)
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], 'Token')
  const lacking = await introspect(app, noScope, owner.token)
  t.equal(lacking.statusCode, 403)
  t.equal(lacking.headers['www-authenticate'], 'Token error="insufficient_scope", scope="introspect"')
  t.equal((await introspect(app, owner.token, owner.token)).json().active, true, 'a * token has introspect')
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `username=x&password=${PASSWORD}` })).statusCode,
    415, 'form bodies are parsed for introspection alone')
})

t.test('GET and HEAD /auth/verify: 204 with the user in headers, 401, 403 for a missing scope', async (t) => {
  const { app } = await buildTestApp(t, { tokenRateLimit: { max: 3, windowMs: 60_000 } })
  const alice = await register(app)
  const scoped = (await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(alice.token), payload: { device: 'd', scopes: ['orders:read', 'reports'] } })).json()

  for (const method of ['GET', 'HEAD'] as const) {
    const ok = await app.inject({ method, url: '/auth/verify', headers: auth(scoped.token) })
    t.equal(ok.statusCode, 204, method)
    t.equal(ok.body, '')
    t.equal(ok.headers['x-tessera-user-id'], String(alice.user.id))
    t.equal(ok.headers['x-tessera-username'], alice.user.username)
    t.equal(ok.headers['x-tessera-token-id'], scoped.tokenId)
    t.equal(ok.headers['x-tessera-scopes'], 'orders:read reports')
    const none = await app.inject({ method, url: '/auth/verify' })
    t.equal(none.statusCode, 401, `${method} without a token`)
    t.equal(none.headers['www-authenticate'], 'Token')
  }
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify?scope=orders:read', headers: auth(scoped.token) })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify?scope=orders:read&scope=reports', headers: auth(scoped.token) })).statusCode, 204)
  const lacking = await app.inject({ method: 'GET', url: '/auth/verify?scope=orders:read&scope=admin', headers: auth(scoped.token) })
  t.equal(lacking.statusCode, 403)
  t.equal(lacking.headers['www-authenticate'], 'Token error="insufficient_scope", scope="orders:read admin"')
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify?scope=Bad%20Scope', headers: auth(scoped.token) })).statusCode, 400)

  // Called once per request of the protected service: not under the sessions API's per-token limit (3/min here).
  const statuses = await Promise.all(Array.from({ length: 10 }, async () => (await app.inject({ method: 'GET', url: '/auth/verify', headers: auth(scoped.token) })).statusCode))
  t.same(new Set(statuses), new Set([204]))

  await app.inject({ method: 'DELETE', url: `/auth/tokens/${scoped.tokenId}`, headers: auth(alice.token) })
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify', headers: auth(scoped.token) })).statusCode, 401, 'revoked: 401 at once')
})

t.test("/auth/verify/<path> answers as /auth/verify (Envoy's ext_authz appends the request's path)", async (t) => {
  const { app } = await buildTestApp(t)
  const alice = await register(app)
  const ok = await app.inject({ method: 'GET', url: '/auth/verify/orders/42?scope=sessions', headers: auth(alice.token) })
  t.equal(ok.statusCode, 204)
  t.equal(ok.headers['x-tessera-user-id'], String(alice.user.id))
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify/orders/42' })).statusCode, 401)
})
