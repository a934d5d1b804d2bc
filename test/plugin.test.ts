import Fastify from 'fastify'
import t from 'tap'
import tessera from '../src/index.js'
import { PASSWORD, auth, freshDatabaseUrl, uniqueName } from './helpers/app.js'
import { testClock } from './helpers/clock.js'

t.test('another app registers tessera and protects its own route with app.authenticate', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const { url } = freshDatabaseUrl(t)
  await app.register(tessera, { databaseUrl: url, loginRateLimit: null })

  const orders = new Map<number, string[]>()
  app.get('/orders', { preHandler: app.authenticate }, async (request) => {
    const user = request.user!
    return { owner: user.username, orders: orders.get(user.id) ?? [] }
  })
  app.get('/public', async (request) => ({ user: request.user }))

  const username = uniqueName('shop')
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
  t.equal(registered.statusCode, 201)
  const { token, user } = registered.json()
  orders.set(user.id, ['#1', '#2'])

  const ok = await app.inject({ method: 'GET', url: '/orders', headers: auth(token) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { owner: username, orders: ['#1', '#2'] })

  const refused = await app.inject({ method: 'GET', url: '/orders' })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], 'Token')
  t.same(Object.keys(refused.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(refused.json().code, 'TOKEN_MISSING')

  t.same((await app.inject({ method: 'GET', url: '/public' })).json(), { user: null }, 'request.user is null where authenticate did not run')

  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })
  t.equal((await app.inject({ method: 'GET', url: '/orders', headers: auth(token) })).statusCode, 401, 'logout is honoured by the host route')
})

t.test('the plugin refuses bad options clearly', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(tessera, { databaseUrl: url, tokenTtl: -5 }).ready() }, /tokenTtl must be a positive/)
  const bare = Fastify()
  t.teardown(() => bare.close())
  await t.rejects(async () => { await bare.register(tessera, {}).ready() }, /pass `database` or `databaseUrl`/)
})

t.test('the clock option is where tessera reads the time: a token expires when it passes the TTL, without a wait', async (t) => {
  // A day that is not today: an instant read from the real clock instead would show.
  const start = Date.parse('2031-05-01T12:00:00.000Z')
  const clock = testClock(start)
  const app = Fastify()
  t.teardown(() => app.close())
  const { url } = freshDatabaseUrl(t)
  await app.register(tessera, { databaseUrl: url, loginRateLimit: null, tokenTtl: 60_000, clock: clock.now })
  t.equal(app.tessera.clock, clock.now, 'app.tessera.clock is the one given')

  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: PASSWORD } })
  const { token, expiry, user } = registered.json()
  t.equal(user.createdAt, '2031-05-01T12:00:00.000Z', "the user's creation")
  t.equal(expiry, '2031-05-01T12:01:00.000Z', 'the expiry: the TTL from the clock')
  const sessions = await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })
  t.match(sessions.json(), [{ createdAt: '2031-05-01T12:00:00.000Z', lastUsedAt: '2031-05-01T12:00:00.000Z' }], 'the session, and its use')
  const activity = await app.inject({ method: 'GET', url: '/auth/activity', headers: auth(token) })
  t.match(activity.json().events, [{ type: 'login', at: '2031-05-01T12:00:00.000Z' }], 'the activity log')

  clock.advance(59_999)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).statusCode, 200, 'alive 1 ms before its expiry')
  clock.advance(1)
  const expired = await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().code, 'TOKEN_EXPIRED', 'expired at its expiry, by the clock')
})

t.test('a clock that is not a function returning whole ms since the epoch stops the registration', async (t) => {
  const bad: Array<[unknown, string]> = [
    ['now', '(got string)'],
    [null, '(got null)'],
    [() => 1.5, '(it returned 1.5)'],
    [() => new Date(), '(it returned object)'],
    [() => -1, '(it returned -1)']
  ]
  const expected = 'tessera: invalid options: clock must be a function returning the current time as a whole number of ms since the epoch, like Date.now'
  const { url } = freshDatabaseUrl(t)
  for (const [clock, why] of bad) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(tessera, { databaseUrl: url, clock: clock as () => number }).ready() },
      { message: `${expected} ${why}` }, String(clock))
  }
})

t.test('the host app keeps its own validation settings; tessera stays strict', async (t) => {
  const app = Fastify({ ajv: { customOptions: { coerceTypes: true } } })
  t.teardown(() => app.close())
  const { url } = freshDatabaseUrl(t)
  await app.register(tessera, { databaseUrl: url, routePrefix: '/api/auth' })
  const response = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 12345678, password: PASSWORD } })
  t.equal(response.statusCode, 400, 'a number is not coerced into a username')
})
