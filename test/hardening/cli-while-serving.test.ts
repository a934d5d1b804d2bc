import t from 'tap'
import { PASSWORD, buildTestApp, login, register, uniqueName } from '../helpers/app.js'
import { cliFor, spawnCli } from '../helpers/cli.js'

// The CLI and the server on one database at once: the CLI's purge and revocations write while the
// server serves logins and authenticated requests. Neither side may see an error (SQLite: WAL and
// the busy timeout; PostgreSQL: ordinary concurrency), and every revocation the CLI reports is
// honoured by the server on its next request. The CLI runs as processes of its own (spawnCli), as an
// operator's does: two processes writing one database is the point.
t.test('purge and token revoke from the CLI while the server serves load', async (t) => {
  const { app, config } = await buildTestApp(t)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const cli = cliFor(config.databaseUrl, {}, spawnCli)
  const username = uniqueName('busy')
  const { user } = await register(app, username)
  const keep = await Promise.all(Array.from({ length: 4 }, async () => await login(app, username)))
  const doomed = await Promise.all(Array.from({ length: 6 }, async () => await login(app, username)))

  // Expired rows for purge to chew through, in batches.
  const now = Date.now()
  const expired = Array.from({ length: 3000 }, (_, i) => ({
    id: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
    digest: Buffer.from(`expired-${String(i).padStart(24, '0')}`),
    format: 1,
    subject: String(user.id),
    device: 'old',
    created_at: now - 10_000,
    expires_at: now - 1000,
    last_used_at: null
  }))
  for (let i = 0; i < expired.length; i += 500) await app.tessera.database.kysely.insertInto('tessera_tokens').values(expired.slice(i, i + 500)).execute()

  const statuses = new Map<number, number>()
  let stop = false
  const client = async (token: string): Promise<void> => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the test sets `stop` once the CLI is done
    while (!stop) {
      const response = await fetch(`${address}/auth/me`, { headers: { authorization: `Token ${token}` } })
      await response.arrayBuffer()
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
    }
  }
  const logins = async (): Promise<void> => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the test sets `stop` once the CLI is done
    while (!stop) {
      const response = await fetch(`${address}/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD })
      })
      await response.arrayBuffer()
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
    }
  }
  const load = [...keep.map(async ({ token }) => await client(token)), logins()]

  // The purge and the revocations at once, all while the load runs.
  const [purge, ...revokes] = await Promise.all([
    cli(['purge', '--batch-size', '200']),
    ...doomed.map(async ({ tokenId }) => await cli(['token', 'revoke', tokenId]))
  ])
  stop = true
  await Promise.all(load)

  t.equal(purge.code, 0, purge.stderr)
  t.equal(purge.stdout, 'deleted 3000 expired tokens\n')
  for (const result of revokes) t.equal(result.code, 0, result.stderr)
  t.same([...statuses.keys()].sort(), [200], `the server answered only 200s: ${JSON.stringify([...statuses])}`)
  for (const { token } of doomed) {
    t.equal((await fetch(`${address}/auth/me`, { headers: { authorization: `Token ${token}` } })).status, 401, 'revoked by the CLI')
  }
  for (const { token } of keep) {
    t.equal((await fetch(`${address}/auth/me`, { headers: { authorization: `Token ${token}` } })).status, 200)
  }
})
