import t from 'tap'
import { PASSWORD, auth, buildTestApp, login, me, register, uniqueName } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

interface SessionView { id: string, device: string, createdAt: string, expiry: string | null, lastUsedAt: string | null, current: boolean }

t.test('GET /auth/tokens lists the sessions, newest first, one current, no secrets', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const first = await register(app, username)
  const phone = await login(app, username, PASSWORD, 'Pixel 8')
  const laptop = await login(app, username, PASSWORD, 'ThinkPad')
  const other = await register(app, uniqueName('other'))

  const response = await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(phone.token) })
  t.equal(response.statusCode, 200)
  const sessions = response.json<SessionView[]>()
  t.same(sessions.map((s) => s.id), [laptop.tokenId, phone.tokenId, first.tokenId], 'newest first, only this user')
  t.same(sessions.map((s) => s.current), [false, true, false])
  t.same(sessions.map((s) => s.device).slice(0, 2), ['ThinkPad', 'Pixel 8'])
  for (const session of sessions) t.same(Object.keys(session).sort(), ['createdAt', 'createdIp', 'current', 'device', 'expiry', 'id', 'lastUsedAt', 'lastUsedIp', 'scopes', 'userAgent'])
  for (const secret of [first.token, phone.token, laptop.token, other.token]) t.notMatch(response.body, secret.slice(4, 24))
  t.notMatch(response.body, /digest/)
  t.not(sessions[1]!.lastUsedAt, null, 'the current session was just used')
  t.equal(sessions[0]!.lastUsedAt, null, 'the laptop token was never used')
})

t.test('without a device label, the session is named from the User-Agent', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  await register(app, username)
  const agents: Array<[string, string]> = [
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36', 'Chrome on Android'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari on iPhone'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0', 'Firefox on Windows'],
    ['curl/8.5.0', 'curl 8.5.0'],
    ['', 'unknown device']
  ]
  for (const [userAgent, label] of agents) {
    const response = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'user-agent': userAgent }, payload: { username, password: PASSWORD } })
    const { token, tokenId } = response.json()
    const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })).json<SessionView[]>()
    t.equal(sessions.find((s) => s.id === tokenId)!.device, label, userAgent || '(none)')
  }
})

t.test('DELETE /auth/tokens/:id revokes one of my other sessions at once', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const phone = await register(app, username)
  const laptop = await login(app, username)
  const response = await app.inject({ method: 'DELETE', url: `/auth/tokens/${phone.tokenId}`, headers: auth(laptop.token) })
  t.equal(response.statusCode, 204)
  t.equal((await me(app, phone.token)).statusCode, 401)
  t.equal((await me(app, laptop.token)).statusCode, 200)
  const again = await app.inject({ method: 'DELETE', url: `/auth/tokens/${phone.tokenId}`, headers: auth(laptop.token) })
  t.equal(again.statusCode, 404, 'already gone')
})

t.test("another user's session id is 404, and that session keeps working", async (t) => {
  const { app } = await buildTestApp(t)
  const alice = await register(app, uniqueName('alice'))
  const mallory = await register(app, uniqueName('mallory'))
  const response = await app.inject({ method: 'DELETE', url: `/auth/tokens/${alice.tokenId}`, headers: auth(mallory.token) })
  t.equal(response.statusCode, 404)
  t.same(response.json(), { statusCode: 404, error: 'Not Found', message: 'No such session.', code: 'NOT_FOUND' })
  const unknown = await app.inject({ method: 'DELETE', url: '/auth/tokens/6f1c2a3e-0000-4000-8000-000000000000', headers: auth(mallory.token) })
  t.equal(unknown.body, response.body, 'indistinguishable from an id that does not exist')
  t.equal((await me(app, alice.token)).statusCode, 200)
})

t.test('malformed session ids are 400 or 404, never 5xx', async (t) => {
  const { app } = await buildTestApp(t)
  const { token } = await register(app)
  for (const id of ['abc', '1', '%00', "1' OR '1'='1", 'x'.repeat(500), '%E2%82%AC', '..%2F..%2Fetc', '6F1C2A3E-0000-4000-8000-00000000000']) {
    const response = await app.inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: auth(token) })
    t.ok(response.statusCode === 400 || response.statusCode === 404, `${id.slice(0, 20)}: ${response.statusCode}`)
    t.type(response.json().message, 'string')
  }
  t.equal((await me(app, token)).statusCode, 200)
})

t.test('POST /auth/logoutothers keeps only the presented token', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const a = await register(app, username)
  const b = await login(app, username)
  const c = await login(app, username)
  const bob = await register(app, uniqueName('bob'))
  const response = await app.inject({ method: 'POST', url: '/auth/logoutothers', headers: auth(b.token) })
  t.equal(response.statusCode, 204)
  t.equal((await me(app, a.token)).statusCode, 401)
  t.equal((await me(app, c.token)).statusCode, 401)
  t.equal((await me(app, b.token)).statusCode, 200)
  t.equal((await me(app, bob.token)).statusCode, 200)
})

t.test('POST /auth/password changes the password and keeps only the current token', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const a = await register(app, username)
  const b = await login(app, username)
  const newPassword = 'a brand new passphrase'

  const wrong = await app.inject({ method: 'POST', url: '/auth/password', headers: auth(b.token), payload: { currentPassword: 'not it at all', newPassword } })
  t.equal(wrong.statusCode, 403)
  t.equal((await me(app, a.token)).statusCode, 200, 'a refused change revokes nothing')

  for (const invalid of ['short', 'x'.repeat(1025), 12345678, null]) {
    const response = await app.inject({ method: 'POST', url: '/auth/password', headers: auth(b.token), payload: { currentPassword: PASSWORD, newPassword: invalid } })
    t.equal(response.statusCode, 400, `new password ${String(invalid).slice(0, 10)}`)
  }

  const ok = await app.inject({ method: 'POST', url: '/auth/password', headers: auth(b.token), payload: { currentPassword: PASSWORD, newPassword } })
  t.equal(ok.statusCode, 204)
  t.equal((await me(app, a.token)).statusCode, 401, 'the other token is dead')
  t.equal((await me(app, b.token)).statusCode, 200, 'the presented token lives')
  const old = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })
  t.equal(old.statusCode, 401, 'the old password fails')
  t.equal((await login(app, username, newPassword)).user.username, username, 'the new one works')
})

t.test('lastUsedAt is written at most once per refresh interval', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { minRefreshInterval: 60_000, clock: clock.now })
  const { token, tokenId } = await register(app)
  // Uses are written after the request is answered, with the other uses of its turn: wait for that
  // write (on PostgreSQL it is a query of its own, answered some time after the turn ends).
  const lastUsed = async (): Promise<number | null> => {
    await new Promise((resolve) => setImmediate(resolve))
    await app.tessera.database.tokenLookup.flushUses()
    return (await app.tessera.database.kysely.selectFrom('tessera_tokens').select('last_used_at').where('id', '=', tokenId).executeTakeFirstOrThrow()).last_used_at
  }
  t.equal(await lastUsed(), null)
  await me(app, token)
  const first = await lastUsed()
  t.equal(first, clock.now())
  clock.advance(59_999)
  for (let i = 0; i < 5; i++) await me(app, token)
  t.equal(await lastUsed(), first, 'not rewritten within the interval')
  clock.advance(1)
  await me(app, token)
  t.equal(await lastUsed(), clock.now(), 'rewritten by the first use after it')
})

t.test('a custom token prefix', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_TOKEN_PREFIX: 'acme_' })
  const { token } = await register(app)
  t.match(token, /^acme_[0-9A-Za-z]{49}$/)
  t.equal((await me(app, token)).statusCode, 200)
})
