/**
 * The login counters cannot be reset by traffic that does not concern them (audit item 5): a
 * window that is still open is never forgotten, and memory is bounded by refusing new keys
 * instead of evicting live ones.
 */
import t from 'tap'
import { FixedWindowCounter } from '../../src/http/fixed-window-counter.js'
import { PASSWORD, buildTestApp, register, uniqueName } from '../helpers/app.js'

t.test('attempts for thousands of other usernames do not reset a locked username', async (t) => {
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
