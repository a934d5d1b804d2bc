/**
 * Several tessera instances on one PostgreSQL database behave as one service. Two real apps, each
 * with its own connection pool, listen on their own ports and are spoken to over real HTTP, as a
 * load balancer would: whatever one instance does is honoured by the other on the very next
 * request, the per-user token limit holds when concurrent logins land on both, and the rate
 * limits are one limit however the requests are spread.
 */
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { deactivateUser } from '../../src/users/builtin/repository.js'
import type { TesseraSettings } from '../../src/settings.js'
import { PASSWORD, TEST_DIALECT, buildTestApp, freshDatabaseUrl, uniqueName, type Issued, type TestApp, type TestContext } from '../helpers/app.js'

interface Reply {
  status: number
  body: any
}

/** One instance, as a client sees it: a base URL. */
interface Instance {
  name: string
  call: (method: string, path: string, options?: { token?: string, body?: object, headers?: Record<string, string> }) => Promise<Reply>
}

function instanceAt (name: string, base: string): Instance {
  return {
    name,
    call: async (method, path, { token, body, headers: extra = {} } = {}) => {
      const headers: Record<string, string> = { ...extra }
      if (token !== undefined) headers.authorization = `Token ${token}`
      if (body !== undefined) headers['content-type'] = 'application/json'
      const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
      const text = await response.text()
      return { status: response.status, body: text === '' ? null : JSON.parse(text) }
    }
  }
}

/** Two instances on one fresh database, started at the same moment (their migrations race). */
async function twoInstances (t: TestContext, settings: Partial<TesseraSettings> = {}, env: Record<string, string> = {}): Promise<{ one: Instance, two: Instance, apps: TestApp[] }> {
  const { url } = freshDatabaseUrl(t)
  const apps = await Promise.all([1, 2].map(async () => await buildTestApp(t, settings, { ...env, DATABASE_URL: url })))
  const [one, two] = await Promise.all(apps.map(async ({ app }, i) =>
    instanceAt(`instance ${i + 1}`, await app.listen({ port: 0, host: '127.0.0.1' }))))
  return { one: one!, two: two!, apps }
}

async function register (on: Instance, username = uniqueName()): Promise<Issued> {
  const reply = await on.call('POST', '/auth/register', { body: { username, password: PASSWORD } })
  if (reply.status !== 201) throw new Error(`register on ${on.name}: ${reply.status} ${JSON.stringify(reply.body)}`)
  return reply.body as Issued
}

async function login (on: Instance, username: string, password = PASSWORD): Promise<Issued> {
  const reply = await on.call('POST', '/auth/login', { body: { username, password, device: on.name } })
  if (reply.status !== 200) throw new Error(`login on ${on.name}: ${reply.status} ${JSON.stringify(reply.body)}`)
  return reply.body as Issued
}

const me = async (on: Instance, token: string): Promise<number> => (await on.call('GET', '/auth/me', { token })).status

if (TEST_DIALECT !== 'postgres') {
  t.plan(0, 'several instances share a database on PostgreSQL: run with TESSERA_TEST_DATABASE=postgres')
} else {
  t.test('both instances start together on an empty database and migrate it once', async (t) => {
    const { one, two, apps } = await twoInstances(t)
    const applied = await apps[0]!.app.tessera.database.kysely
      .selectFrom('tessera_migrations' as 'tessera_users')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow()
    t.equal(Number(applied.n), migrations.length, 'each migration is recorded once')
    t.equal((await one.call('GET', '/healthz')).status, 200)
    t.equal((await two.call('GET', '/healthz')).status, 200)
  })

  t.test('a token issued by one instance works on the other, with the same answers', async (t) => {
    const { one, two } = await twoInstances(t)
    const registered = await register(one, 'Alice')
    const onOne = await one.call('GET', '/auth/me', { token: registered.token })
    const onTwo = await two.call('GET', '/auth/me', { token: registered.token })
    t.equal(onTwo.status, 200)
    t.same(onTwo.body.user, onOne.body.user, 'the same user, with the same ISO-8601 UTC createdAt')
    // Each answer shows its own use of the session (a use is written after the answer, so the
    // other instance may not have seen the first yet): the session is the same, its lastUsedAt may not be.
    t.equal(onTwo.body.session.id, onOne.body.session.id, 'the same session')
    t.equal(onTwo.body.user.createdAt, registered.user.createdAt)

    const fromTwo = await login(two, 'alice')
    t.equal(await me(one, fromTwo.token), 200, 'a token from instance 2 works on instance 1')
    const sessions = await one.call('GET', '/auth/tokens', { token: registered.token })
    t.same(sessions.body.map((s: { id: string }) => s.id).sort(), [registered.tokenId, fromTwo.tokenId].sort(),
      'instance 1 lists the session instance 2 created')
    t.equal(sessions.body.find((s: { id: string }) => s.id === fromTwo.tokenId).expiry, fromTwo.expiry)

    t.equal((await two.call('POST', '/auth/register', { body: { username: 'ALICE', password: PASSWORD } })).status, 409,
      'usernames are unique across instances, case-insensitively')
  })

  t.test('logout on one instance is honoured by the other on the very next request', async (t) => {
    const { one, two } = await twoInstances(t)
    const { token } = await register(one)
    t.equal(await me(two, token), 200, 'instance 2 has seen (and could have cached) the token')
    t.equal((await one.call('POST', '/auth/logout', { token })).status, 204)
    t.equal(await me(two, token), 401)
    t.equal(await me(one, token), 401)
  })

  t.test('logout-all and logout-others on one instance are honoured by the other', async (t) => {
    const { one, two } = await twoInstances(t)
    const { token: first, user } = await register(one)
    const second = await login(two, user.username)
    const third = await login(one, user.username)
    for (const token of [first, second.token, third.token]) t.equal(await me(two, token), 200)

    t.equal((await two.call('POST', '/auth/logoutothers', { token: second.token })).status, 204)
    t.equal(await me(one, first), 401, 'logout-others on 2: the others die on 1')
    t.equal(await me(one, third.token), 401)
    t.equal(await me(one, second.token), 200, 'the kept token lives on 1')

    const fourth = await login(one, user.username)
    t.equal(await me(two, fourth.token), 200)
    t.equal((await one.call('POST', '/auth/logoutall', { token: fourth.token })).status, 204)
    t.equal(await me(two, second.token), 401, 'logout-all on 1: every token dies on 2')
    t.equal(await me(two, fourth.token), 401)
  })

  t.test('revoking a session on one instance is honoured by the other', async (t) => {
    const { one, two } = await twoInstances(t)
    const { token: phone, user } = await register(one)
    const laptop = await login(two, user.username)
    t.equal(await me(two, laptop.token), 200)
    t.equal((await one.call('DELETE', `/auth/tokens/${laptop.tokenId}`, { token: phone })).status, 204)
    t.equal(await me(two, laptop.token), 401, 'the revoked session dies on 2')
    t.equal(await me(two, phone), 200, 'the revoking session lives')
    t.equal((await two.call('DELETE', `/auth/tokens/${laptop.tokenId}`, { token: phone })).status, 404, 'and 2 knows it is gone')
  })

  t.test('a password change on one instance is honoured by the other', async (t) => {
    const { one, two } = await twoInstances(t)
    const { token: kept, user } = await register(one)
    const other = await login(two, user.username)
    t.equal(await me(two, other.token), 200)
    const changed = await one.call('POST', '/auth/password', { token: kept, body: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' } })
    t.equal(changed.status, 204)
    t.equal(await me(two, other.token), 401, 'the other token dies on 2')
    t.equal(await me(two, kept), 200, 'the token that changed it lives on 2')
    t.equal((await two.call('POST', '/auth/login', { body: { username: user.username, password: PASSWORD } })).status, 401,
      'the old password no longer logs in on 2')
    t.equal(await me(two, (await login(two, user.username, 'a brand new passphrase')).token), 200)
  })

  t.test('deactivating a user through one instance\'s database stops their tokens on the other', async (t) => {
    const { one, two, apps } = await twoInstances(t)
    const { token, user } = await register(one)
    t.equal(await me(two, token), 200)
    t.ok(await deactivateUser(apps[0]!.app.tessera.database.kysely, user.id, Date.now()))
    const refused = await two.call('GET', '/auth/me', { token })
    t.equal(refused.status, 401)
    t.match(refused.body.message, /inactive/i)
  })

  /** Logins fired all at once, alternating between the instances; returns the status codes. */
  async function concurrentLogins (instances: Instance[], username: string, count: number): Promise<Reply[]> {
    return await Promise.all(Array.from({ length: count }, async (_, i) => {
      const on = instances[i % instances.length]!
      return await on.call('POST', '/auth/login', { body: { username, password: PASSWORD, device: `${on.name} #${i}` } })
    }))
  }

  const LIMIT = 3
  const LOGINS = 16

  t.test('the token limit holds under concurrent logins split across both instances (refuse)', async (t) => {
    const { one, two } = await twoInstances(t, { tokenLimitPerUser: LIMIT, tokenLimitPolicy: 'refuse' })
    const { token, user } = await register(one)
    const replies = await concurrentLogins([one, two], user.username, LOGINS)
    const ok = replies.filter((reply) => reply.status === 200)
    t.equal(ok.length, LIMIT - 1, `exactly ${LIMIT - 1} of ${LOGINS} logins got a token (registering took the first)`)
    t.same([...new Set(replies.map((reply) => reply.status))].sort(), [200, 403], 'the rest were refused with 403')
    const sessions = await two.call('GET', '/auth/tokens', { token })
    t.equal(sessions.body.length, LIMIT, 'the user holds exactly the limit')
  })

  t.test('the token limit holds under concurrent logins split across both instances (evict-oldest)', async (t) => {
    const { one, two } = await twoInstances(t, { tokenLimitPerUser: LIMIT, tokenLimitPolicy: 'evict-oldest' })
    const { token: first, user } = await register(one)
    const replies = await concurrentLogins([one, two], user.username, LOGINS)
    t.same(replies.map((reply) => reply.status), replies.map(() => 200), 'every login got a token')
    const tokens = [first, ...replies.map((reply) => (reply.body as Issued).token)]
    const alive = []
    for (const [i, token] of tokens.entries()) if (await me(i % 2 === 0 ? one : two, token) === 200) alive.push(token)
    t.equal(alive.length, LIMIT, `exactly ${LIMIT} of the ${tokens.length} tokens still work`)
    const sessions = await one.call('GET', '/auth/tokens', { token: alive[0] })
    t.equal(sessions.body.length, LIMIT, 'and exactly the limit is stored')
  })

  /**
   * Both instances behind one trusted proxy (this test), which names the client in
   * `X-Forwarded-For`: so that each attempt can come from an address of its own, or all from one.
   */
  const LIMITED = { TESSERA_LOGIN_RATE_LIMIT: '10/1m', TESSERA_TRUST_PROXY: '127.0.0.1' }

  async function attempt (on: Instance, username: string, client: string): Promise<Reply> {
    return await on.call('POST', '/auth/login', { body: { username, password: 'wrong password' }, headers: { 'x-forwarded-for': client } })
  }

  t.test("a username's 11th attempt in the window is refused whichever instance it reaches", async (t) => {
    const { one, two } = await twoInstances(t, {}, LIMITED)
    const { user } = await register(one)
    const codes = []
    // From ten addresses, so that only the per-username limit can refuse.
    for (let i = 0; i < 10; i++) codes.push((await attempt(i % 2 === 0 ? one : two, user.username, `203.0.113.${i + 1}`)).status)
    t.same(codes, Array(10).fill(401), 'ten attempts, alternating between the instances, are tried')
    for (const on of [one, two]) {
      const refused = await attempt(on, user.username, '203.0.113.100')
      t.equal(refused.status, 429, `then ${on.name} refuses the next one`)
      t.match(refused.body, { statusCode: 429, error: 'Too Many Requests', message: /^Too many login attempts for this username: retry in \d+ s\.$/ })
    }
    const right = await two.call('POST', '/auth/login', { body: { username: user.username, password: PASSWORD }, headers: { 'x-forwarded-for': '203.0.113.101' } })
    t.equal(right.status, 429, 'even with the right password')
    t.equal((await attempt(one, uniqueName(), '203.0.113.102')).status, 401, 'another username is not limited')
  })

  t.test("an address's 11th attempt in the window is refused whichever instance it reaches", async (t) => {
    const { one, two } = await twoInstances(t, {}, LIMITED)
    const codes = []
    // Ten usernames, so that only the per-address limit can refuse.
    for (let i = 0; i < 10; i++) codes.push((await attempt(i % 2 === 0 ? one : two, uniqueName('spray'), '198.51.100.7')).status)
    t.same(codes, Array(10).fill(401))
    for (const on of [two, one]) {
      const refused = await attempt(on, uniqueName('spray'), '198.51.100.7')
      t.equal(refused.status, 429, `then ${on.name} refuses the next one`)
      t.match(refused.body.message, /^Too many login attempts from this address: retry in \d+ s\.$/)
    }
    t.equal((await attempt(two, uniqueName(), '198.51.100.8')).status, 401, 'another address is not limited')
  })

  t.test("a token's requests count against one limit across the instances", async (t) => {
    const { one, two } = await twoInstances(t, {}, { TESSERA_TOKEN_RATE_LIMIT: '5/1m' })
    const { token } = await register(one)
    const codes = []
    for (let i = 0; i < 6; i++) codes.push(await me(i % 2 === 0 ? one : two, token))
    t.same(codes, [200, 200, 200, 200, 200, 429])
    t.equal(await me(one, token), 429)
  })
}
