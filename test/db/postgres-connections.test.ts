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
