/**
 * The test kit (`tessera-auth/testing`, here from its sources; test/package/testing-kit.test.ts
 * runs it from the packed tarball): a real service on a loopback port, users and tokens made
 * through tessera's own code at the test password cost, rate limits off unless asked for,
 * settings passed through, and a close that leaves nothing listening. The kit makes its own
 * in-memory SQLite database whatever TESSERA_TEST_DATABASE says.
 */
import t, { type Test } from 'tap'
import { startTestServer, type TestServer, type TestServerOptions } from '../../src/testing/index.js'
import { TEST_ARGON2_OPTIONS } from '../../src/users/builtin/passwords.js'

async function kitFor (t: Test, options: TestServerOptions = {}): Promise<TestServer> {
  const kit = await startTestServer(options)
  t.teardown(() => kit.close())
  return kit
}

async function call (kit: TestServer, method: string, path: string, options: { token?: string, body?: unknown } = {}): Promise<Response> {
  return await fetch(`${kit.url}${path}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token === undefined ? {} : { authorization: `Token ${options.token}` })
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body)
  })
}

t.test('a real service on a free loopback port, with its health check and docs', async (t) => {
  const kit = await kitFor(t)
  t.match(kit.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const health = await call(kit, 'GET', '/healthz')
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  t.equal((await call(kit, 'GET', '/docs/json')).status, 200, 'the OpenAPI document, as `tessera serve` has it')
  const injected = await kit.app.inject({ method: 'GET', url: '/auth/me' })
  t.equal(injected.statusCode, 401, 'the app answers inject too')
  const other = await kitFor(t)
  t.not(other.url, kit.url, 'each kit has a port of its own')
})

t.test('createUser makes a user through the built-in store; the password it returns logs in over HTTP', async (t) => {
  const kit = await kitFor(t)
  const made = await kit.createUser()
  t.match(made, { id: Number, username: /^user_[0-9a-f]{8}$/, email: null, createdAt: String, password: /^[A-Za-z0-9_-]{24}$/ })
  const alice = await kit.createUser({ username: 'Alice', password: 'correct horse battery', email: 'alice@example.com' })
  t.match(alice, { username: 'Alice', email: 'alice@example.com', password: 'correct horse battery' })

  const login = await call(kit, 'POST', '/auth/login', { body: { username: 'alice', password: 'correct horse battery' } })
  t.equal(login.status, 200)
  const body = await login.json() as { user: unknown }
  t.same(body.user, { id: alice.id, username: 'Alice', email: 'alice@example.com', createdAt: alice.createdAt },
    'the user the kit returned is the user the API shows, with the password besides')
  t.equal((await call(kit, 'POST', '/auth/login', { body: { username: made.username, password: made.password } })).status, 200)
  t.equal((await call(kit, 'POST', '/auth/login', { body: { username: 'alice', password: 'wrong password' } })).status, 401)

  await t.rejects(kit.createUser({ username: 'ALICE' }), /a user named "ALICE" already exists/, 'usernames are unique as in the API')
  await t.rejects(kit.createUser({ username: 'carol smith' }), TypeError, 'a username the API refuses')
  await t.rejects(kit.createUser({ password: 'short' }), /8 to 1024 characters/)
  await t.rejects(kit.createUser({ email: 'nope' }), /"nope" is not an email address/)
})

t.test('users cost the test password cost: argon2 at its smallest, well under a millisecond each', async (t) => {
  const kit = await kitFor(t)
  const user = await kit.createUser()
  const row = await kit.app.tessera.builtinUsers!.byUsername(user.username)
  const { memoryCost, timeCost, parallelism } = TEST_ARGON2_OPTIONS
  t.match(row?.password_hash, new RegExp(`^\\$argon2id\\$v=19\\$m=${memoryCost},t=${timeCost},p=${parallelism}\\$`))
  const count = 200
  const started = performance.now()
  for (let i = 0; i < count; i++) await kit.createUser()
  const each = (performance.now() - started) / count
  t.comment(`${each.toFixed(3)} ms per user`)
  // About 0.25 ms here; the bound leaves room for a busy machine, and is far below argon2 at
  // OWASP's cost (tens of ms, which the standard-cost tests around this suite pay).
  t.ok(each < 3, `${each.toFixed(3)} ms per user`)
})

t.test('tokenFor issues a token through the token service, with a device, scopes and a lifetime', async (t) => {
  const kit = await kitFor(t)
  await kit.createUser({ username: 'bob' })
  const logins: string[] = []
  kit.app.tessera.events.on('login', ({ device }) => logins.push(device))

  const issued = await kit.tokenFor('bob')
  t.match(issued, { token: /^tsr_/, tokenId: String, expiry: String, scopes: ['*'] })
  const me = await call(kit, 'GET', '/auth/me', { token: issued.token })
  t.equal(me.status, 200)
  t.equal((await me.json() as { user: { username: string } }).user.username, 'bob')

  const narrow = await kit.tokenFor('BOB', { device: 'phone', scopes: ['orders:read'], ttl: '30s' })
  t.same(narrow.scopes, ['orders:read'])
  const lifetime = Date.parse(narrow.expiry!) - Date.now()
  t.ok(lifetime > 25_000 && lifetime <= 30_000, `a 30 s token (${lifetime} ms)`)
  t.equal((await call(kit, 'GET', '/auth/tokens', { token: narrow.token })).status, 403, 'its scopes hold')
  t.equal((await kit.tokenFor('bob', { ttl: null })).expiry, null)
  t.equal((await kit.tokenFor('bob', { ttl: 'none' })).expiry, null)
  const ms = await kit.tokenFor('bob', { ttl: 60_000 })
  t.ok(Date.parse(ms.expiry!) - Date.now() <= 60_000)
  t.same(logins, ['test', 'phone', 'test', 'test', 'test'], "the login events of tessera's own code path; the default device is test")

  const sessions = await call(kit, 'GET', '/auth/tokens', { token: issued.token })
  t.equal((await sessions.json() as unknown[]).length, 5)

  await t.rejects(kit.tokenFor('nobody'), /no user named "nobody"/)
  await t.rejects(kit.tokenFor('bob', { ttl: 'soon' }), TypeError)
  await t.rejects(kit.tokenFor('bob', { ttl: 0 }), TypeError)
  await t.rejects(kit.tokenFor('bob', { scopes: ['NOT A SCOPE'] }), TypeError)
  await t.rejects(kit.tokenFor('bob', { device: '' }), TypeError)
  await kit.app.tessera.builtinUsers!.deactivate((await kit.app.tessera.builtinUsers!.byUsername('bob'))!.id)
  await t.rejects(kit.tokenFor('bob'), /deactivated/)
})

t.test('rate limits are off unless the test asks for them', async (t) => {
  const kit = await kitFor(t)
  await kit.createUser({ username: 'carol', password: 'correct horse battery' })
  for (let i = 0; i < 15; i++) {
    const wrong = await call(kit, 'POST', '/auth/login', { body: { username: 'carol', password: `wrong password ${i}` } })
    t.equal(wrong.status, 401, `attempt ${i + 1}: 401, never 429`)
  }
  for (let i = 0; i < 12; i++) {
    t.equal((await call(kit, 'POST', '/auth/register', { body: { username: `reg${i}`, password: 'correct horse battery' } })).status, 201)
  }

  const limited = await kitFor(t, { rateLimits: true })
  await limited.createUser({ username: 'carol', password: 'correct horse battery' })
  const statuses: number[] = []
  for (let i = 0; i < 11; i++) {
    statuses.push((await call(limited, 'POST', '/auth/login', { body: { username: 'carol', password: `wrong password ${i}` } })).status)
  }
  t.same(statuses, [...Array<number>(10).fill(401), 429], 'rateLimits: true: the default 10 attempts a minute')
})

t.test('settings pass through to the service, and win over rateLimits', async (t) => {
  const kit = await kitFor(t, { settings: { registration: 'closed', tokenTtl: 5_000, loginRateLimit: { max: 2, windowMs: 60_000 } } })
  t.equal((await call(kit, 'POST', '/auth/register', { body: { username: 'dave', password: 'correct horse battery' } })).status, 403)
  await kit.createUser({ username: 'dave', password: 'correct horse battery' })
  const { expiry } = await kit.tokenFor('dave')
  t.ok(Date.parse(expiry!) - Date.now() <= 5_000, 'the token TTL')
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) {
    statuses.push((await call(kit, 'POST', '/auth/login', { body: { username: 'dave', password: 'wrong password' } })).status)
  }
  t.same(statuses, [401, 401, 429], 'a login limit set in settings applies without rateLimits')
  await t.rejects(startTestServer({ settings: { tokenTtl: -1 } }), /tokenTtl/, 'settings are checked as the plugin checks them')
})

t.test("a clock of the test's own: tokens expire and rate-limit windows end when it moves, without a wait", async (t) => {
  let now = Date.parse('2031-05-01T12:00:00.000Z')
  const kit = await kitFor(t, { clock: () => now, settings: { loginRateLimit: { max: 1, windowMs: 60_000 } } })
  await kit.createUser({ username: 'fay', password: 'correct horse battery' })
  const { token, expiry } = await kit.tokenFor('fay', { ttl: '1h' })
  t.equal(expiry, '2031-05-01T13:00:00.000Z', 'an hour from the clock')
  t.equal((await call(kit, 'GET', '/auth/me', { token })).status, 200)
  now += 3_600_000
  const expired = await call(kit, 'GET', '/auth/me', { token })
  t.equal(expired.status, 401)
  t.match(await expired.json(), { code: 'TOKEN_EXPIRED' })

  const login = async (): Promise<number> => (await call(kit, 'POST', '/auth/login', { body: { username: 'fay', password: 'wrong password' } })).status
  t.same([await login(), await login()], [401, 429], 'one attempt a minute')
  now += 60_000
  t.equal(await login(), 401, 'a minute later by the clock, the next attempt is let through')
  await t.rejects(startTestServer({ clock: 'now' as unknown as () => number }), /clock must be a function/, 'a bad clock is refused at start')
})

t.test('close stops the service and can be called twice', async (t) => {
  const kit = await startTestServer()
  await kit.createUser({ username: 'erin' })
  await kit.close()
  await kit.close()
  await t.rejects(fetch(`${kit.url}/healthz`), 'nothing listens any more')
  const next = await kitFor(t)
  t.equal(await next.app.tessera.builtinUsers!.byUsername('erin'), undefined, 'each kit starts from an empty database')
})
