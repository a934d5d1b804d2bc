import { sql } from 'kysely'
import t from 'tap'
import { PASSWORD, TEST_DIALECT, auth, buildTestApp, register, uniqueName } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

const attempt = async (app: Awaited<ReturnType<typeof buildTestApp>>['app'], username: string, ip: string, password = 'wrong password') =>
  await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: ip, payload: { username, password } })

t.test('login: per client address, with 429 and Retry-After', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '3/1m' })
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await attempt(app, uniqueName('spray'), '10.0.0.1')).statusCode)
  t.same(codes, [401, 401, 401, 429], 'one address cannot spray many accounts')
  const limited = await attempt(app, uniqueName(), '10.0.0.1')
  t.equal(limited.statusCode, 429)
  t.same(Object.keys(limited.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.equal(limited.json().error, 'Too Many Requests')
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
  t.equal((await attempt(app, uniqueName(), '10.0.0.2')).statusCode, 401, 'another address is not limited')
})

t.test('login: per username, whatever the address', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '3/1m' })
  const username = uniqueName('victim')
  await register(app, username)
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await attempt(app, username, `10.1.0.${i}`)).statusCode)
  t.same(codes, [401, 401, 401, 429], 'many addresses cannot spray one account')
  t.equal((await attempt(app, username.toUpperCase(), '10.1.0.99', PASSWORD)).statusCode, 429, 'the username is matched case-insensitively')
  const basic = await app.inject({
    method: 'POST',
    url: '/auth/login',
    remoteAddress: '10.1.0.100',
    headers: { authorization: `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString('base64')}` }
  })
  t.equal(basic.statusCode, 429, 'HTTP Basic logins count against the same username')
})

t.test('register: per client address', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '2/1m' })
  const codes = []
  for (let i = 0; i < 3; i++) {
    codes.push((await app.inject({ method: 'POST', url: '/auth/register', remoteAddress: '10.2.0.1', payload: { username: uniqueName(), password: PASSWORD } })).statusCode)
  }
  t.same(codes, [201, 201, 429])
})

t.test('off disables the login limit', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: 'off' })
  const username = uniqueName()
  await register(app, username)
  for (let i = 0; i < 30; i++) {
    if ((await attempt(app, username, '10.3.0.1', PASSWORD)).statusCode !== 200) return t.fail(`attempt ${i} was refused`)
  }
  t.pass('30 logins in a row')
})

t.test('authenticated routes: a higher limit per token', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_TOKEN_RATE_LIMIT: '5/1m' })
  const a = await register(app)
  const b = await register(app)
  const codes = []
  for (let i = 0; i < 6; i++) codes.push((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(a.token) })).statusCode)
  t.same(codes, [200, 200, 200, 200, 200, 429])
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(b.token) })).statusCode, 200, "another token's budget is its own")
})

t.test('behind a trusted proxy, limits use the forwarded client address', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '2/1m', TESSERA_TRUST_PROXY: '10.9.9.9' })
  const from = async (client: string) => (await app.inject({
    method: 'POST', url: '/auth/login', remoteAddress: '10.9.9.9', headers: { 'x-forwarded-for': client }, payload: { username: uniqueName(), password: 'wrong password' }
  })).statusCode
  t.same([await from('203.0.113.1'), await from('203.0.113.1'), await from('203.0.113.1')], [401, 401, 429])
  t.equal(await from('203.0.113.2'), 401, 'a different client behind the same proxy')
})

t.test('an ended window starts afresh', async (t) => {
  // On the test's clock (counted in memory on SQLite, in the database on PostgreSQL).
  const clock = testClock()
  const { app } = await buildTestApp(t, { clock: clock.now }, { TESSERA_LOGIN_RATE_LIMIT: '3/1m' })
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await attempt(app, uniqueName(), '10.4.0.1')).statusCode)
  t.same(codes, [401, 401, 401, 429])
  clock.advance(500)
  const limited = await attempt(app, uniqueName(), '10.4.0.1')
  const retryAfter = Number(limited.headers['retry-after'])
  t.equal(retryAfter, 60, 'Retry-After: the 59.5 s left of the window, in whole seconds rounded up')
  clock.advance(59_499)
  t.equal((await attempt(app, uniqueName(), '10.4.0.1')).statusCode, 429, 'still limited 1 ms before the window ends')
  clock.advance(1)
  t.equal((await attempt(app, uniqueName(), '10.4.0.1')).statusCode, 401, 'once the window has ended, the address is tried again')
})

t.test('the limits count in memory on SQLite, in the database on PostgreSQL', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '3/1m', TESSERA_TOKEN_RATE_LIMIT: '5/1m' })
  const { token } = await register(app)
  await attempt(app, uniqueName(), '10.5.0.1')
  await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })
  const { rows } = await sql<{ limit_name: string, hits: number }>`SELECT limit_name, hits FROM tessera_rate_limits ORDER BY limit_name`
    .execute(app.tessera.database.kysely)
  if (TEST_DIALECT === 'sqlite') return t.same(rows, [], 'nothing is written on SQLite')
  t.same(rows.map((row) => row.limit_name), ['login-address', 'login-username', 'register-address', 'token'], 'one row per limit and key')
  t.ok(rows.every((row) => row.hits === 1))
  const keys = await sql<{ key: string }>`SELECT key FROM tessera_rate_limits`.execute(app.tessera.database.kysely)
  t.ok(keys.rows.every((row) => /^[\w-]{43}$/.test(row.key)), 'keys are stored as digests, never as addresses or usernames')
})

t.test('on PostgreSQL, a request that cannot be counted is a 503, never let through', async (t) => {
  if (TEST_DIALECT !== 'postgres') return t.pass('the database counts only on PostgreSQL')
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '3/1m' })
  const username = uniqueName()
  await register(app, username)
  await sql`DROP TABLE tessera_rate_limits`.execute(app.tessera.database.kysely)
  const refused = await attempt(app, username, '10.6.0.1', PASSWORD)
  t.equal(refused.statusCode, 503)
  t.same(refused.json(), {
    statusCode: 503, error: 'Service Unavailable', message: 'The database is not available right now; try again shortly.', code: 'DATABASE_UNAVAILABLE'
  })
})
