/**
 * A PostgreSQL restart under a running service (audit item 1): while the server is down, requests
 * get a 503 JSON answer (never another 5xx, never a dropped connection) and the process keeps
 * running; once it is back, the next requests succeed without a restart of tessera.
 *
 * It stops and starts the local cluster, so it runs only on the PostgreSQL suite, which runs one
 * test file at a time, and only where `pg_ctlcluster` can (as root, as CI does).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import t from 'tap'
import { PASSWORD, TEST_DIALECT, buildTestApp, me, register } from '../helpers/app.js'

const clusterVersion = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql')[0] : undefined
const canRestart = TEST_DIALECT === 'postgres' && clusterVersion !== undefined && process.getuid?.() === 0 &&
  spawnSync('pg_ctlcluster', ['--help']).status !== null

function cluster (action: 'stop' | 'start'): void {
  const args = ['--skip-systemctl-redirect', clusterVersion!, 'main', action, ...(action === 'stop' ? ['-m', 'fast'] : [])]
  const result = spawnSync('pg_ctlcluster', args, { encoding: 'utf8', timeout: 60_000 })
  if (result.status !== 0) throw new Error(`pg_ctlcluster ${args.join(' ')} failed: ${result.stderr}`)
}

if (!canRestart) {
  t.plan(0, 'restarts the local PostgreSQL cluster: the PostgreSQL suite, as root, with pg_ctlcluster')
} else {
  t.test('PostgreSQL stopped under a running service: 503s while it is down, service as usual once it is back', async (t) => {
    const { app } = await buildTestApp(t)
    const { token, user } = await register(app)
    t.equal((await me(app, token)).statusCode, 200)
    cluster('stop')
    try {
      const answers = await Promise.all([
        me(app, token),
        app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } }),
        app.inject({ method: 'GET', url: '/auth/tokens', headers: { authorization: `Token ${token}` } }),
        app.inject({ method: 'GET', url: '/healthz' })
      ])
      for (const answer of answers) {
        t.equal(answer.statusCode, 503, `${answer.statusCode}: ${answer.body.slice(0, 120)}`)
        t.equal(answer.json().statusCode, 503)
      }
    } finally {
      cluster('start')
    }
    // The server accepts connections again within seconds; the pool opens new ones by itself.
    let status = 0
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = (await me(app, token)).statusCode
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    t.equal(status, 200, 'served again once PostgreSQL is back')
    t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })).statusCode, 200)
  })
}
