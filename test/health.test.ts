import t from 'tap'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { DatabaseUnavailableError } from '../src/db/errors.js'
import { DatabaseHealth } from '../src/health.js'
import { freshDatabaseUrl, type TestContext } from './helpers/app.js'

/** The service on a fresh database, with a clock the test moves. */
async function appWithClock (t: TestContext) {
  const { url } = freshDatabaseUrl(t)
  const clock = { now: 1_000_000 }
  const config = loadConfig({ DATABASE_URL: url, TESSERA_SWEEP_INTERVAL: 'none' })
  const app = await buildApp(config, { logger: false, now: () => clock.now })
  t.teardown(() => app.close())
  return { app, clock }
}

t.test('healthz is 200 after a database round trip, 503 when the database is gone', async (t) => {
  const { app, clock } = await appWithClock(t)
  const ok = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { status: 'ok' })

  await app.tessera.database.close()
  clock.now += 1000
  const down = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(down.statusCode, 503, 'once the last answer is a second old, the probe asks the database')
  t.same(Object.keys(down.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(down.json().code, 'DATABASE_UNAVAILABLE')
  t.equal(down.json().error, 'Service Unavailable')
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 503, 'a failure is not remembered as health')
})

t.test('an outage a request runs into makes the next probe ask the database', async (t) => {
  const { app } = await appWithClock(t)
  app.get('/unlucky', async () => { throw new DatabaseUnavailableError(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })) })
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  await app.tessera.database.close()
  t.equal((await app.inject({ method: 'GET', url: '/unlucky' })).statusCode, 503)
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 503, 'at once, within the second')
})

t.test('probes within a second share one answer; concurrent probes share one query', async (t) => {
  let queries = 0
  const waiting: Array<() => void> = []
  const answer = (): void => { for (const resolve of waiting.splice(0)) resolve() }
  let fail = false
  const clock = { now: 0 }
  const health = new DatabaseHealth(async () => {
    queries += 1
    await new Promise<void>((resolve) => { waiting.push(resolve) })
    if (fail) throw new Error('connection refused')
  }, { now: () => clock.now })

  const first = [health.check(), health.check(), health.check()]
  t.equal(queries, 1, 'three concurrent probes, one query')
  answer()
  await Promise.all(first)
  clock.now += 999
  await health.check()
  t.equal(queries, 1, 'no query within the second')

  clock.now += 1
  fail = true
  const late = health.check()
  t.equal(queries, 2, 'a second later, a query')
  answer()
  await t.rejects(late, /connection refused/)
  const again = health.check()
  t.equal(queries, 3, 'after a failure, the next probe asks again at once')
  fail = false
  answer()
  await again

  const during = health.check()
  clock.now += 2000
  const pending = health.check()
  health.failed()
  const afterFailure = health.check()
  t.equal(queries, 5, 'a failure seen elsewhere: the next probe does not wait for a query sent before it')
  answer()
  await Promise.all([during, pending, afterFailure])
})
