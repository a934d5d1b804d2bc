/**
 * `GET /auth/me` also shows the session of the token making the request, so that an app learns
 * its own session id and its slid expiry in one call.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { auth, buildTestApp, login, me, register } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

interface MeSession { id: string, device: string, createdAt: string, expiry: string | null, lastUsedAt: string | null, scopes: string[] }

async function storedToken (app: FastifyInstance, id: string): Promise<{ expires_at: number | null, last_used_at: number | null }> {
  await app.tessera.database.tokenLookup.flushUses() // uses are written after their turn: now, and wait for them
  return await app.tessera.database.kysely.selectFrom('tessera_tokens').select(['expires_at', 'last_used_at']).where('id', '=', id).executeTakeFirstOrThrow()
}

t.test("the session is the request's own token, the user is unchanged", async (t) => {
  const { app } = await buildTestApp(t)
  const registered = await register(app)
  const phone = await login(app, registered.user.username, undefined, 'Pixel 8')
  const response = await me(app, phone.token)
  t.equal(response.statusCode, 200)
  const body = response.json<{ user: unknown, session: MeSession }>()
  t.same(Object.keys(body).sort(), ['session', 'user'])
  t.same(body.user, registered.user, 'the user fields as before')
  t.same(Object.keys(body.session).sort(), ['createdAt', 'device', 'expiry', 'id', 'lastUsedAt', 'scopes'])
  t.equal(body.session.id, phone.tokenId, "the token's id, as GET /auth/tokens and DELETE /auth/tokens/:id know it")
  t.equal(body.session.device, 'Pixel 8')
  t.same(body.session.scopes, ['*'])
  t.equal(body.session.expiry, phone.expiry, 'without auto-refresh, the expiry it was issued with')
  t.not(body.session.lastUsedAt, null, 'this request is its first use, recorded')
  const listed = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(phone.token) })).json<Array<MeSession & { current: boolean }>>()
  const current = listed.find((session) => session.current)!
  t.same({ id: current.id, device: current.device, createdAt: current.createdAt, expiry: current.expiry, scopes: current.scopes },
    { id: body.session.id, device: body.session.device, createdAt: body.session.createdAt, expiry: body.session.expiry, scopes: body.session.scopes })
  t.equal((await me(app, registered.token)).json().session.id, registered.tokenId, 'each token sees its own session')
})

t.test('with auto-refresh, the expiry shown is the one this request slid to, as stored', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { autoRefresh: true, tokenTtl: 60_000, minRefreshInterval: 500, clock: clock.now })
  const { token, tokenId, expiry } = await register(app)
  clock.advance(50)
  const first = (await me(app, token)).json<{ session: MeSession }>().session
  t.ok(Date.parse(first.expiry!) > Date.parse(expiry!), 'slid past the expiry it was issued with')
  t.equal(Date.parse(first.expiry!), clock.now() + 60_000, 'to now + the TTL')
  t.equal(Date.parse(first.lastUsedAt!), clock.now(), 'used now')
  const stored = await storedToken(app, tokenId)
  t.equal(Date.parse(first.expiry!), stored.expires_at, 'exactly the expiry written')
  t.equal(Date.parse(first.lastUsedAt!), stored.last_used_at, 'and the use written')
  clock.advance(499)
  const again = (await me(app, token)).json<{ session: MeSession }>().session
  t.same(again, first, 'within the refresh interval nothing moves')

  clock.advance(1)
  const later = (await me(app, token)).json<{ session: MeSession }>().session
  t.equal(Date.parse(later.expiry!), clock.now() + 60_000, 'the next due use slides it again')
  t.equal(Date.parse(later.expiry!), (await storedToken(app, tokenId)).expires_at)
})

t.test('a token that never expires shows expiry null', async (t) => {
  const { app } = await buildTestApp(t, { tokenTtl: null })
  const { token } = await register(app)
  t.equal((await me(app, token)).json().session.expiry, null)
})

t.test('a scoped token shows its scopes', async (t) => {
  const { app } = await buildTestApp(t)
  const { token } = await register(app)
  const minted = (await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(token), payload: { device: 'reader', scopes: ['reports', 'orders:read'] } })).json()
  const session = (await me(app, minted.token)).json().session
  t.match(session, { id: minted.tokenId, device: 'reader', scopes: ['orders:read', 'reports'] })
})
