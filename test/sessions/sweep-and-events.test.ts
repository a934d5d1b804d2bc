import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { TesseraEvents } from '../../src/events.js'
import { PASSWORD, auth, buildTestApp, login, me, register, uniqueName } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

t.test('the sweep deletes every expired token in bounded batches and nothing else', async (t) => {
  const { app } = await buildTestApp(t)
  const db = app.tessera.database.kysely
  const { user, tokenId: live } = await register(app)
  const now = Date.now()
  const expired = Array.from({ length: 2500 }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    digest: Buffer.from(String(i).padStart(32, '0')),
    format: 1,
    subject: String(user.id),
    device: 'old',
    created_at: now - 10_000,
    expires_at: now - 1000 + (i % 7),
    last_used_at: null
  }))
  for (let i = 0; i < expired.length; i += 500) await db.insertInto('tessera_tokens').values(expired.slice(i, i + 500)).execute()
  const batches: number[] = []
  const deleted = await app.tessera.tokens.sweep({ batchSize: 1000, onBatch: (total) => batches.push(total) })
  t.equal(deleted, 2500)
  t.same(batches, [1000, 2000, 2500])
  const left = await db.selectFrom('tessera_tokens').select('id').execute()
  t.same(left.map((row) => row.id), [live])
})

t.test('the periodic sweep runs when an interval is set', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { tokenTtl: 3_600_000, sweepInterval: 100, clock: clock.now })
  const { tokenId } = await register(app)
  const stored = async (): Promise<boolean> =>
    (await app.tessera.database.kysely.selectFrom('tessera_tokens').select('id').where('id', '=', tokenId).executeTakeFirst()) !== undefined
  clock.advance(3_600_000)
  // Expired by the clock, swept at the next tick of the 100 ms timer, which runs on real time: waited for, up to 5 s.
  for (const deadline = Date.now() + 5000; await stored() && Date.now() < deadline;) await sleep(20)
  t.equal(await stored(), false, 'swept without being presented')
})

t.test('events: login, logout, logout-all, logout-others, expiry, revocation, password change', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { tokenTtl: 3_600_000, clock: clock.now })
  const seen: Array<[keyof TesseraEvents, unknown]> = []
  for (const name of ['userCreated', 'login', 'logout', 'logoutAll', 'logoutOthers', 'sessionRevoked', 'tokenExpired', 'passwordChanged'] as const) {
    app.tessera.events.on(name, (payload: unknown) => seen.push([name, payload]))
  }
  const username = uniqueName()
  const a = await register(app, username)
  const b = await login(app, username, PASSWORD, 'tablet')
  const subject = String(a.user.id)
  t.same(seen.splice(0), [
    ['userCreated', { user: a.user }],
    ['login', { user: a.user, subject, tokenId: a.tokenId, device: 'lightMyRequest' }],
    ['login', { user: a.user, subject, tokenId: b.tokenId, device: 'tablet' }]
  ])
  await app.inject({ method: 'DELETE', url: `/auth/tokens/${a.tokenId}`, headers: auth(b.token) })
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(b.token) })
  t.same(seen.splice(0), [
    ['sessionRevoked', { subject, tokenId: a.tokenId, reason: 'revoked' }],
    ['logout', { subject, tokenId: b.tokenId }]
  ])
  const c = await login(app, username)
  await login(app, username)
  await app.inject({ method: 'POST', url: '/auth/logoutothers', headers: auth(c.token) })
  await app.inject({ method: 'POST', url: '/auth/password', headers: auth(c.token), payload: { currentPassword: PASSWORD, newPassword: 'another long password' } })
  await app.inject({ method: 'POST', url: '/auth/logoutall', headers: auth(c.token) })
  t.same(seen.splice(0).map(([name, payload]) => [name, name === 'login' ? undefined : payload]), [
    ['login', undefined],
    ['login', undefined],
    ['logoutOthers', { subject, keptTokenId: c.tokenId, revoked: 1 }],
    ['passwordChanged', { subject, revoked: 0 }],
    ['logoutAll', { subject, revoked: 1 }]
  ])
  const d = await login(app, username, 'another long password')
  clock.advance(3_600_000)
  await me(app, d.token)
  t.same(seen.splice(1), [['tokenExpired', { subject, tokenId: d.tokenId }]])
})

t.test('a listener that throws does not fail the request', async (t) => {
  const { app } = await buildTestApp(t)
  app.tessera.events.on('login', () => { throw new Error('listener bug') })
  const username = uniqueName()
  await register(app, username)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode, 200)
})

t.test('an async listener that rejects is logged and fails nothing: no crash, the request answered', async (t) => {
  const { app } = await buildTestApp(t)
  let called = 0
  app.tessera.events.on('login', async () => { called += 1; throw new Error('async listener bug') })
  app.tessera.events.on('userCreated', async () => { called += 1; await sleep(1); throw new Error('later async listener bug') })
  const username = uniqueName()
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
  t.equal(registered.statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode, 200)
  // An unhandled rejection would end this test process (Node's default): give it its chance to.
  await sleep(20)
  t.equal(called, 3, 'every listener ran')
  t.equal((await me(app, registered.json().token)).statusCode, 200, 'the server still serves')
})
