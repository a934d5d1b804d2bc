import SQLite from 'better-sqlite3'
import t from 'tap'
import { auth, buildTestApp, login, me, register, uniqueName } from './helpers/app.js'

// The SQLite credential cache must never let a revoked token live for one more request, whoever
// revoked it: this process, or another connection to the same file (the CLI, another process).
t.test('revocations through another connection are honoured on the very next request', async (t) => {
  const { app, sqlitePath } = await buildTestApp(t)
  if (sqlitePath === undefined) {
    t.pass('SQLite only: on PostgreSQL every request queries, nothing is cached')
    return
  }
  const username = uniqueName()
  const { token, tokenId, user } = await register(app, username)
  const other = await login(app, username)
  for (let i = 0; i < 3; i++) t.equal((await me(app, token)).statusCode, 200, 'warm the cache')

  const outside = new SQLite(sqlitePath)
  t.teardown(() => outside.close())
  outside.prepare('DELETE FROM auth_tokens WHERE id = ?').run(tokenId)
  t.equal((await me(app, token)).statusCode, 401, 'deleted by another connection')
  t.equal((await me(app, other.token)).statusCode, 200)

  outside.prepare('UPDATE users SET deactivated_at = ? WHERE id = ?').run(Date.now(), user.id)
  t.equal((await me(app, other.token)).statusCode, 401, 'deactivated by another connection')
  outside.prepare('UPDATE users SET deactivated_at = NULL WHERE id = ?').run(user.id)
  t.equal((await me(app, other.token)).statusCode, 200)

  outside.prepare('UPDATE auth_tokens SET expires_at = ? WHERE id = ?').run(Date.now() - 1, other.tokenId)
  t.equal((await me(app, other.token)).statusCode, 401, 'expired by another connection')
})

t.test('revocations by this process are honoured on the very next request', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const a = await register(app, username)
  const b = await login(app, username)
  for (let i = 0; i < 3; i++) t.equal((await me(app, a.token)).statusCode, 200)
  await app.inject({ method: 'DELETE', url: `/auth/tokens/${a.tokenId}`, headers: auth(b.token) })
  t.equal((await me(app, a.token)).statusCode, 401)
  await app.tessera.database.kysely.deleteFrom('auth_tokens').where('id', '=', b.tokenId).execute()
  t.equal((await me(app, b.token)).statusCode, 401, 'a delete through Kysely directly, too')
})
