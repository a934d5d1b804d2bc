/**
 * PostgreSQL connections die under a running service: a server restart, a failover, an idle
 * timeout in a proxy. The pool must shrug that off (no crash from the dead idle connections'
 * errors) and serve the next requests on new connections. And it opens no more than it is allowed.
 */
import { sql } from 'kysely'
import t from 'tap'
import { PASSWORD, TEST_DIALECT, buildTestApp, login, me, register } from '../helpers/app.js'
import { runSync } from '../helpers/postgres.js'

if (TEST_DIALECT !== 'postgres') {
  t.plan(0, 'PostgreSQL connections only: run with TESSERA_TEST_DATABASE=postgres')
} else {
  t.test('connections cut by the server are replaced; the service neither crashes nor loses data', async (t) => {
    const { app, config } = await buildTestApp(t, { tokenLimitPerUser: 5 })
    const { token, user } = await register(app)
    // Several pooled connections, all idle afterwards.
    await Promise.all([1, 2, 3].map(async () => await login(app, user.username)))
    const appName = new URL(config.databaseUrl).searchParams.get('application_name')!

    runSync(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${appName}'`)
    // Give the pool a moment to see the dead sockets (their errors arrive as events, not replies).
    await new Promise((resolve) => setTimeout(resolve, 200))

    t.equal((await me(app, token)).statusCode, 200, 'the next request is served on a new connection')
    t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Token ${token}` } })).statusCode, 204)
    t.equal((await me(app, token)).statusCode, 401, 'and writes still take')
  })

  t.test('connections cut while in use, three times under load: 503s at worst, no crash, then service as usual (audit item 1)', async (t) => {
    const { app, config } = await buildTestApp(t, { tokenLimitPerUser: null })
    const appName = new URL(config.databaseUrl).searchParams.get('application_name')!
    const { token, user } = await register(app)
    const statuses = new Map<number, number>()
    for (let round = 0; round < 3; round++) {
      // A transaction held open on one of tessera's own connections, and requests in flight on others.
      let cut!: () => void
      const terminated = new Promise<void>((resolve) => { cut = resolve })
      const held = app.tessera.database.kysely.transaction().execute(async (trx) => {
        await sql`SELECT 1`.execute(trx)
        await terminated
        await sql`SELECT 1`.execute(trx)
      })
      const requests = [
        ...Array.from({ length: 6 }, async () => await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })),
        ...Array.from({ length: 20 }, async () => await me(app, token)),
        ...Array.from({ length: 4 }, async () => await app.inject({ method: 'GET', url: '/auth/tokens', headers: { authorization: `Token ${token}` } }))
      ]
      await new Promise((resolve) => setTimeout(resolve, 15))
      runSync(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${appName}'`)
      cut()
      await t.rejects(held, 'the transaction on a cut connection fails, as a rejection, not a crash')
      for (const response of await Promise.all(requests)) {
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
        t.ok(response.statusCode < 500 || response.statusCode === 503, `answered ${response.statusCode}`)
        t.match(response.headers['content-type'], /^application\/json/, 'a JSON answer')
        if (response.statusCode === 503) t.equal(response.json().statusCode, 503)
      }
      t.equal((await me(app, token)).statusCode, 200, `round ${round}: the next request is served`)
    }
    t.comment(`statuses: ${[...statuses].map(([status, n]) => `${status}×${n}`).join(' ')}`)
    t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })).statusCode, 200, 'logins work again')
  })

  t.test('TESSERA_DB_POOL_SIZE caps the connections one instance opens', async (t) => {
    const { app, config } = await buildTestApp(t, {}, { TESSERA_DB_POOL_SIZE: '2' })
    const { token } = await register(app)
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await me(app, token)).statusCode))
    t.same(new Set(statuses), new Set([200]), '20 concurrent requests are all served')
    const appName = new URL(config.databaseUrl).searchParams.get('application_name')!
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${appName}`
      .execute(app.tessera.database.kysely)
    t.ok(rows[0]!.n >= 1 && rows[0]!.n <= 2, `on at most 2 connections (saw ${rows[0]!.n})`)
  })
}
