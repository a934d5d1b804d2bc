import t from 'tap'
import { PASSWORD, auth, buildTestApp, login, me, register, uniqueName } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

t.test('limit 3: the registration token counts, a 4th login is 403, a logout frees a slot', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 3 })
  const username = uniqueName()
  const first = await register(app, username)
  await login(app, username)
  await login(app, username)
  const fourth = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })
  t.equal(fourth.statusCode, 403)
  t.match(fourth.json().message, /at most 3 live tokens/)
  t.equal((await me(app, first.token)).statusCode, 200, 'refuse policy: nobody was evicted')
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(first.token) })
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode, 200)
})

t.test('twenty simultaneous logins with a limit of 3 leave at most 3 tokens', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 3 })
  const username = uniqueName()
  const { user, token } = await register(app, username)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })
  const responses = await Promise.all(Array.from({ length: 20 }, async () =>
    await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })))
  const codes = responses.map((response) => response.statusCode)
  t.equal(codes.filter((code) => code === 200).length, 3)
  t.equal(codes.filter((code) => code === 403).length, 17)
  const rows = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('id').where('subject', '=', String(user.id)).execute()
  t.equal(rows.length, 3)
})

t.test('evict-oldest: the least recently used session makes room', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 2, tokenLimitPolicy: 'evict-oldest', minRefreshInterval: 1, clock: clock.now })
  const username = uniqueName()
  const a = await register(app, username)
  const b = await login(app, username)
  clock.advance(5)
  t.equal((await me(app, a.token)).statusCode, 200, 'a is now more recently used than b')
  const evicted: string[] = []
  app.tessera.events.on('sessionRevoked', ({ tokenId, reason }) => { if (reason === 'evicted') evicted.push(tokenId) })
  const c = await login(app, username)
  t.equal((await me(app, b.token)).statusCode, 401, 'b, least recently used, was evicted')
  t.equal((await me(app, a.token)).statusCode, 200)
  t.equal((await me(app, c.token)).statusCode, 200)
  t.same(evicted, [b.tokenId])

  const responses = await Promise.all(Array.from({ length: 10 }, async () => await login(app, username)))
  t.equal(responses.length, 10, 'concurrent logins all succeed under evict-oldest')
  const rows = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('id').where('subject', '=', String(a.user.id)).execute()
  t.equal(rows.length, 2, 'and the limit still holds')
})

t.test('expired tokens do not count against the limit', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 1, tokenTtl: 60_000, clock: clock.now })
  const username = uniqueName()
  await register(app, username)
  clock.advance(59_999)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode, 403)
  clock.advance(1)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode, 200)
})
