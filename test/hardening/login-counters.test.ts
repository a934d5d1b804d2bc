/**
 * The login counters cannot be reset by traffic that does not concern them (audit item 5): a
 * window that is still open is never forgotten, and memory is bounded by refusing new keys
 * instead of evicting live ones.
 */
import { sql } from 'kysely'
import t from 'tap'
import { openDatabase } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { DatabaseWindowCounter } from '../../src/http/database-window-counter.js'
import { FixedWindowCounter } from '../../src/http/fixed-window-counter.js'
import { PASSWORD, TEST_DIALECT, buildTestApp, freshDatabaseUrl, register, uniqueName } from '../helpers/app.js'

t.test('attempts for thousands of other usernames do not reset a locked username', async (t) => {
  // The memory counters' cap; on PostgreSQL the database counts, without one (its own test is below).
  if (TEST_DIALECT !== 'sqlite') return t.pass('the limits count in memory on SQLite')
  // A small cap keeps the test fast: past it, other usernames are refused without an argon2 verify.
  const { app } = await buildTestApp(t, { rateLimitMaxKeys: 100 }, { TESSERA_LOGIN_RATE_LIMIT: '3/1m' })
  const login = async (username: string, password: string, ip: string): Promise<number> =>
    (await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: ip, payload: { username, password } })).statusCode

  const victim = uniqueName('victim')
  await register(app, victim)
  // The address the last attempt comes from, counted once now so that it still has budget at the end.
  const checkFrom = '10.200.0.1'
  t.equal(await login(uniqueName('warm'), 'wrong password', checkFrom), 401)
  const filling = []
  for (let i = 0; i < 4; i++) filling.push(await login(victim, 'wrong password', `10.100.0.${i}`))
  t.same(filling, [401, 401, 401, 429], 'the victim username is locked')

  // 6 000 other usernames (more than the 5 000 keys @fastify/rate-limit's LRU store keeps),
  // three per address so that the address limit lets them reach the username counter.
  const others: Record<number, number> = {}
  for (let i = 0; i < 6000; i++) {
    const status = await login(uniqueName('other'), 'wrong password', `10.${Math.floor(i / 3 / 250) % 250}.${Math.floor(i / 3) % 250}.9`)
    others[status] = (others[status] ?? 0) + 1
  }
  t.ok((others[401] ?? 0) > 0 && (others[429] ?? 0) > 0, `other usernames were counted, then refused once the counters were full: ${JSON.stringify(others)}`)
  t.equal(others[500], undefined)

  const last = await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: checkFrom, payload: { username: victim, password: PASSWORD } })
  t.equal(last.statusCode, 429, 'the victim is still refused, even with the right password')
  t.match(last.json(), { statusCode: 429, error: 'Too Many Requests', message: /login attempts for this username/ })
  const retryAfter = Number(last.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
})

t.test('a counter forgets a key only when its window is over, and refuses new keys when full', async (t) => {
  let now = 0
  const counter = new FixedWindowCounter({ max: 2, windowMs: 1000 }, { maxKeys: 3, now: () => now })
  t.match(counter.hit('victim'), { allowed: true })
  t.match(counter.hit('victim'), { allowed: true })
  t.match(counter.hit('victim'), { allowed: false, full: false, retryAfterMs: 1000 })

  now = 100
  t.match(counter.hit('a'), { allowed: true })
  now = 200
  t.match(counter.hit('b'), { allowed: true })
  now = 300
  t.same(counter.hit('c'), { allowed: false, retryAfterMs: 700, full: true }, 'full: a new key waits for the oldest window to end')
  for (let i = 0; i < 10_000; i++) counter.hit(`spray${i}`)
  t.equal(counter.size, 3, 'memory stays bounded')
  t.match(counter.hit('victim'), { allowed: false, full: false, retryAfterMs: 700 }, 'the live window was not dropped')

  now = 1000
  t.equal(counter.size, 2, "the victim's window is over: it is forgotten")
  t.match(counter.hit('c'), { allowed: true, retryAfterMs: 1000 }, 'which makes room for a new key')
  t.match(counter.hit('victim'), { allowed: false, full: true }, 'until the counter is full again')
  now = 1100
  t.match(counter.hit('victim'), { allowed: true, full: false, retryAfterMs: 1000 }, "a's window ended; the victim starts a fresh one")
})

t.test('the database counter (PostgreSQL) has the memory counter\'s windows, and sweeps only ended ones', async (t) => {
  if (TEST_DIALECT !== 'postgres') return t.pass('the database counts only on PostgreSQL')
  const database = openDatabase(freshDatabaseUrl(t).url)
  t.teardown(() => database.close())
  await migrateToLatest(database.kysely)
  let now = 1_000_000
  const counter = new DatabaseWindowCounter(database.kysely, { max: 2, windowMs: 1000 }, { name: 'test', now: () => now })
  const other = new DatabaseWindowCounter(database.kysely, { max: 2, windowMs: 1000 }, { name: 'other', now: () => now })
  t.same(await counter.hit('victim'), { allowed: true, retryAfterMs: 1000, full: false })
  now += 100
  t.same(await counter.hit('victim'), { allowed: true, retryAfterMs: 900, full: false })
  t.same(await counter.hit('victim'), { allowed: false, retryAfterMs: 900, full: false })
  t.match(await other.hit('victim'), { allowed: true }, "another limit's counter for the same key is its own")
  now += 899
  t.match(await counter.hit('victim'), { allowed: false, retryAfterMs: 1 })
  t.match(await counter.hit('later'), { allowed: true, retryAfterMs: 1000 })
  now += 1
  t.same(await counter.hit('victim'), { allowed: true, retryAfterMs: 1000, full: false }, 'the window ended: a fresh one starts')

  now += 999
  t.equal(await counter.sweep(), 1, "the sweep deletes 'later', whose window just ended")
  const left = await sql<{ limit_name: string }>`SELECT limit_name FROM tessera_rate_limits ORDER BY limit_name`.execute(database.kysely)
  t.same(left.rows.map((row) => row.limit_name), ['other', 'test'], "the victim's open window, and the other limit's rows, are kept")
  t.match(await counter.hit('victim'), { allowed: true, retryAfterMs: 1 }, 'still counting the same window')
})

t.test('the database counter (PostgreSQL) allows exactly the rate under concurrent requests', async (t) => {
  if (TEST_DIALECT !== 'postgres') return t.pass('the database counts only on PostgreSQL')
  const database = openDatabase(freshDatabaseUrl(t).url, { poolSize: 8 })
  t.teardown(() => database.close())
  await migrateToLatest(database.kysely)
  const counter = new DatabaseWindowCounter(database.kysely, { max: 10, windowMs: 60_000 }, { name: 'test' })
  const hits = await Promise.all(Array.from({ length: 50 }, async () => await counter.hit('alice')))
  t.equal(hits.filter((hit) => hit.allowed).length, 10, '10 of 50 concurrent requests are allowed')
  t.ok(hits.every((hit) => hit.retryAfterMs > 59_000 && hit.retryAfterMs <= 60_000), 'all in one window, by the server\'s clock')
})

t.test('the database counter (PostgreSQL) keeps a locked key locked whatever other keys it counts', async (t) => {
  if (TEST_DIALECT !== 'postgres') return t.pass('the database counts only on PostgreSQL')
  const database = openDatabase(freshDatabaseUrl(t).url, { poolSize: 8 })
  t.teardown(() => database.close())
  await migrateToLatest(database.kysely)
  const counter = new DatabaseWindowCounter(database.kysely, { max: 3, windowMs: 60_000 }, { name: 'login-username' })
  for (let i = 0; i < 3; i++) await counter.hit('victim')
  t.match(await counter.hit('victim'), { allowed: false })
  for (let i = 0; i < 6000; i += 8) await Promise.all(Array.from({ length: 8 }, async (_, j) => await counter.hit(`other${i + j}`)))
  t.match(await counter.hit('victim'), { allowed: false, full: false }, 'the victim is still refused after 6 000 other keys')
  t.equal(await counter.sweep(), 0, 'and no open window is swept')
})
