/**
 * The activity log: what each kind of change records, through HTTP and the CLI; paging; the
 * scope it needs; retention; nothing recorded for a change that did not happen.
 */
import t from 'tap'
import { auth, buildTestApp, login, PASSWORD, register, uniqueName } from '../helpers/app.js'
import { cliFor } from '../helpers/cli.js'

interface Activity { id: string, type: string, at: string, tokenId: string | null, device: string | null, ip: string | null, userAgent: string | null }
interface ActivityPage { events: Activity[], next: string | null }

const UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1'

t.test('each change made over HTTP is recorded, newest first, with its session, address and User-Agent', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const first = await register(app, username)
  const phone = await app.inject({
    method: 'POST',
    url: '/auth/login',
    remoteAddress: '198.51.100.7',
    headers: { 'user-agent': UA },
    payload: { username, password: PASSWORD, device: 'phone' }
  })
  t.equal(phone.statusCode, 200)
  const wrong = await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '::ffff:203.0.113.9', payload: { username, password: 'not the password' } })
  t.equal(wrong.statusCode, 401)
  // The refusal does not wait for its entry (see BuiltinUsers): waited for here, so that the
  // entries below are recorded after it, as the order asserted at the end says.
  const recorded = async (): Promise<boolean> =>
    (await app.tessera.activity.page(String(first.user.id))).events.some((event) => event.type === 'login_failed')
  for (const deadline = Date.now() + 5000; !(await recorded()) && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 10))
  const pat = await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(first.token), payload: { device: 'script', scopes: ['*'] } })
  t.equal(pat.statusCode, 201)
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/tokens/${pat.json().tokenId}`, headers: auth(first.token) })).statusCode, 204)
  const laptop = await login(app, username, PASSWORD, 'laptop')
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(laptop.token) })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logoutothers', headers: auth(first.token) })).statusCode, 204)
  t.equal((await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(first.token), payload: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' }
  })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logoutall', headers: auth(first.token) })).statusCode, 204)

  const reader = await login(app, username, 'a brand new passphrase', 'reader')
  const response = await app.inject({ url: '/auth/activity', headers: auth(reader.token) })
  t.equal(response.statusCode, 200)
  const { events, next } = response.json<ActivityPage>()
  t.equal(next, null)
  t.same(events.map((event) => event.type), [
    'login', 'logout_all', 'password_changed', 'logout_others', 'logout', 'login', 'session_revoked', 'token_created',
    'login_failed', 'login', 'login'
  ])
  const byType = (type: string, nth = 0): Activity => events.filter((event) => event.type === type)[nth]!
  t.match(events.at(-2), { type: 'login', device: 'phone', ip: '198.51.100.7', userAgent: UA, tokenId: phone.json().tokenId })
  t.match(events.at(-1), { type: 'login', tokenId: first.tokenId }, 'registration is the first login')
  t.match(byType('login_failed'), { tokenId: null, device: null, userAgent: null }, 'a failed login: the address and the time only')
  t.equal(byType('login_failed').ip, '203.0.113.9', 'an IPv4-mapped address shown as IPv4, as in sessions')
  t.match(byType('token_created'), { device: 'script', tokenId: pat.json().tokenId })
  t.match(byType('session_revoked'), { tokenId: pat.json().tokenId })
  t.match(byType('logout'), { tokenId: laptop.tokenId, device: 'laptop' })
  t.match(byType('logout_others'), { tokenId: first.tokenId })
  t.match(byType('password_changed'), { tokenId: first.tokenId })
  for (const event of events) {
    t.ok(Date.parse(event.at) <= Date.now(), 'an ISO time')
    t.notOk(JSON.stringify(event).includes('tsr_'), 'never a token')
  }
  t.ok(events.every((event, i) => i === 0 || BigInt(event.id) < BigInt(events[i - 1]!.id)), 'newest first, by id')
})

t.test('the log is paged by cursor; limit and cursor are checked; the scope is sessions', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const { token } = await register(app, username)
  for (let i = 0; i < 6; i++) await login(app, username, PASSWORD, `device ${i}`)

  const all = (await app.inject({ url: '/auth/activity', headers: auth(token) })).json<ActivityPage>().events
  t.equal(all.length, 7)
  const paged: Activity[] = []
  let before: string | null = null
  let pages = 0
  do {
    const url: string = `/auth/activity?limit=3${before === null ? '' : `&before=${before}`}`
    const page: ActivityPage = (await app.inject({ url, headers: auth(token) })).json()
    paged.push(...page.events)
    before = page.next
    pages++
  } while (before !== null)
  t.equal(pages, 3)
  t.same(paged, all, 'the pages, in turn, are the whole log')

  for (const query of ['limit=0', 'limit=201', 'limit=abc', 'before=abc', 'before=-1', 'surprise=1']) {
    const refused = await app.inject({ url: `/auth/activity?${query}`, headers: auth(token) })
    t.equal(refused.statusCode, 400, query)
    t.equal(refused.json().statusCode, 400)
  }
  t.equal((await app.inject({ url: '/auth/activity' })).statusCode, 401)
  const narrow = await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(token), payload: { device: 'narrow', scopes: ['orders:read'] } })
  t.equal((await app.inject({ url: '/auth/activity', headers: auth(narrow.json().token) })).statusCode, 403)
})

t.test('a change that does not happen records nothing', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 1, tokenLimitPolicy: 'refuse' })
  const username = uniqueName()
  const { token } = await register(app, username)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode, 403, 'over the limit')
  t.equal((await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(token), payload: { currentPassword: 'not it at all', newPassword: 'a brand new passphrase' }
  })).statusCode, 403)
  const { events } = (await app.inject({ url: '/auth/activity', headers: auth(token) })).json<ActivityPage>()
  t.same(events.map((event) => event.type), ['login'])
})

t.test('a session pushed out by the token limit is recorded as evicted', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 1, tokenLimitPolicy: 'evict-oldest' })
  const username = uniqueName()
  const first = await register(app, username)
  const second = await login(app, username, PASSWORD, 'second')
  const { events } = (await app.inject({ url: '/auth/activity', headers: auth(second.token) })).json<ActivityPage>()
  t.same(events.map((event) => event.type), ['login', 'session_evicted', 'login'])
  t.equal(events[1]!.tokenId, first.tokenId)
})

t.test('changes made with the CLI are recorded; tessera user activity shows the log', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const username = uniqueName()
  const { token } = await register(app, username)
  const created = await cli(['token', 'create', username, '--device', 'ci'])
  t.equal(created.code, 0)
  const sessions = (await app.inject({ url: '/auth/tokens', headers: auth(token) })).json<Array<{ id: string, device: string }>>()
  const ci = sessions.find((session) => session.device === 'ci')!
  t.equal((await cli(['token', 'revoke', ci.id])).code, 0)
  t.equal((await cli(['user', 'deactivate', username])).code, 0)

  const shown = await cli(['user', 'activity', username, '--json'])
  t.equal(shown.code, 0, shown.stderr)
  const events = JSON.parse(shown.stdout) as Activity[]
  t.same(events.map((event) => event.type), ['user_deactivated', 'session_revoked', 'token_created', 'login'])
  t.match(events[2], { device: 'ci', tokenId: ci.id, ip: null, userAgent: null }, 'no address from the command line')

  const table = await cli(['user', 'activity', username])
  t.equal(table.code, 0)
  t.match(table.stdout, /user_deactivated/)
  t.match(table.stdout, /token_created\s+ci/)
  t.equal((await cli(['user', 'activity', username, '--limit', '2', '--json'])).stdout.match(/"type"/g)?.length, 2)
  t.equal((await cli(['user', 'activity', username, '--limit', '0'])).code, 2)
  t.equal((await cli(['user', 'activity', 'nobody-at-all'])).code, 1)
})

t.test('entries older than TESSERA_ACTIVITY_RETENTION are swept with the tokens', async (t) => {
  const { app, config } = await buildTestApp(t)
  const username = uniqueName()
  const { token } = await register(app, username)
  await login(app, username, PASSWORD, 'recent')
  const { kysely } = app.tessera.database
  const oldest = await kysely.selectFrom('tessera_activity').select('id').orderBy('id').limit(1).executeTakeFirstOrThrow()
  const day = 24 * 3600_000
  await kysely.updateTable('tessera_activity').set({ at: Date.now() - 91 * day }).where('id', '=', oldest.id).execute()

  t.equal((await cliFor(config.databaseUrl)(['purge'])).code, 0)
  const { events } = (await app.inject({ url: '/auth/activity', headers: auth(token) })).json<ActivityPage>()
  t.same(events.map((event) => event.type), ['login'], 'the 91-day-old entry is gone, the recent one kept')

  await kysely.updateTable('tessera_activity').set({ at: Date.now() - 2 * day }).execute()
  t.equal((await cliFor(config.databaseUrl, { TESSERA_ACTIVITY_RETENTION: '3d' })(['purge'])).code, 0)
  t.equal((await app.inject({ url: '/auth/activity', headers: auth(token) })).json<ActivityPage>().events.length, 1)
  t.equal((await cliFor(config.databaseUrl, { TESSERA_ACTIVITY_RETENTION: '1d' })(['purge'])).code, 0)
  t.equal((await app.inject({ url: '/auth/activity', headers: auth(token) })).json<ActivityPage>().events.length, 0)
})
