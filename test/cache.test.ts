import SQLite from 'better-sqlite3'
import Fastify from 'fastify'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import tessera, { openDatabase } from '../src/index.js'
import { Kysely, SqliteDialect } from 'kysely'
import type { Tables } from '../src/db/schema.js'
import { changeSignalFor } from '../src/tokens/change-signal.js'
import { tokenDigest } from '../src/tokens/format.js'
import { createTokenLookup } from '../src/tokens/lookup.js'
import { PASSWORD, TEST_DIALECT, auth, buildTestApp, freshDatabaseUrl, login, me, register, uniqueName } from './helpers/app.js'

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
  outside.prepare('DELETE FROM tessera_tokens WHERE id = ?').run(tokenId)
  t.equal((await me(app, token)).statusCode, 401, 'deleted by another connection')
  t.equal((await me(app, other.token)).statusCode, 200)

  outside.prepare('UPDATE tessera_users SET deactivated_at = ? WHERE id = ?').run(Date.now(), user.id)
  t.equal((await me(app, other.token)).statusCode, 401, 'deactivated by another connection')
  outside.prepare('UPDATE tessera_users SET deactivated_at = NULL WHERE id = ?').run(user.id)
  t.equal((await me(app, other.token)).statusCode, 200)

  outside.prepare('UPDATE tessera_tokens SET expires_at = ? WHERE id = ?').run(Date.now() - 1, other.tokenId)
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
  await app.tessera.database.kysely.deleteFrom('tessera_tokens').where('id', '=', b.tokenId).execute()
  t.equal((await me(app, b.token)).statusCode, 401, 'a delete through Kysely directly, too')
})

t.test('concurrent requests share one look at the database, and each gets its own answer', async (t) => {
  const { app, sqlitePath } = await buildTestApp(t)
  const username = uniqueName()
  const tokens = [await register(app, username), ...await Promise.all([1, 2, 3].map(async () => await login(app, username)))]
  const revoked = tokens.slice(0, 2)
  const live = tokens.slice(2)
  for (const { token } of tokens) t.equal((await me(app, token)).statusCode, 200, 'warm the cache')

  // Revoked by another connection where there is a file (SQLite), else through the API.
  if (sqlitePath !== undefined) {
    const outside = new SQLite(sqlitePath)
    t.teardown(() => outside.close())
    for (const { tokenId } of revoked) outside.prepare('DELETE FROM tessera_tokens WHERE id = ?').run(tokenId)
  } else {
    for (const { tokenId } of revoked) await app.inject({ method: 'DELETE', url: `/auth/tokens/${tokenId}`, headers: auth(live[0]!.token) })
  }
  const burst = [...revoked, ...live, ...revoked, ...live].map(({ token }) => ({ token, revoked: revoked.some((r) => r.token === token) }))
  const answers = await Promise.all(burst.map(async ({ token }) => (await me(app, token)).statusCode))
  t.same(answers, burst.map(({ revoked }) => revoked ? 401 : 200), 'revoked tokens refused, live ones served, in one burst')
})

t.test('the cache size: 1 keeps every answer right, 0 turns the cache off', async (t) => {
  for (const size of ['1', '0']) {
    await t.test(`TESSERA_TOKEN_CACHE_SIZE=${size}`, async (t) => {
      const { app, sqlitePath } = await buildTestApp(t, {}, { TESSERA_TOKEN_CACHE_SIZE: size })
      const username = uniqueName()
      const first = await register(app, username)
      const second = await login(app, username)
      for (let i = 0; i < 3; i++) {
        t.equal((await me(app, first.token)).statusCode, 200)
        t.equal((await me(app, second.token)).statusCode, 200)
      }
      if (sqlitePath === undefined) return
      const outside = new SQLite(sqlitePath)
      t.teardown(() => outside.close())
      outside.prepare('DELETE FROM tessera_tokens WHERE id = ?').run(first.tokenId)
      t.equal((await me(app, first.token)).statusCode, 401, 'revoked by another connection')
      t.equal((await me(app, second.token)).statusCode, 200)
    })
  }
})

t.test('the change signal: the WAL-index header moves on every commit, whoever makes it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-signal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'signal.db')
  const own = new SQLite(path)
  own.pragma('journal_mode = WAL')
  own.exec('CREATE TABLE t (x)')
  const other = new SQLite(path)
  t.teardown(() => { other.close(); own.close() })
  const { signal } = changeSignalFor(own, path)
  if (signal === null) return t.fail('a WAL database has a change signal')
  t.teardown(() => signal.close())

  t.equal(signal.changed(), true, 'the first call reports a change: nothing was seen yet')
  t.equal(signal.changed(), false, 'then nothing until a commit')
  other.prepare('INSERT INTO t VALUES (1)').run()
  t.equal(signal.changed(), true, "another connection's commit")
  t.equal(signal.changed(), false)
  other.prepare('SELECT * FROM t').all()
  own.prepare('SELECT * FROM t').all()
  t.equal(signal.changed(), false, 'reads are not changes')
  own.prepare('INSERT INTO t VALUES (2)').run()
  t.equal(signal.changed(), true, "this connection's own commit")
  other.transaction(() => { other.prepare('DELETE FROM t').run() })()
  t.equal(signal.changed(), true, 'a transaction')
  other.exec('BEGIN; INSERT INTO t VALUES (3); ROLLBACK')
  t.equal(signal.changed(), false, 'a rolled-back transaction is no change')

  const memory = new SQLite(':memory:')
  t.teardown(() => memory.close())
  const ownOnly = changeSignalFor(memory, undefined).signal!
  t.equal(ownOnly.changed(), true)
  t.equal(ownOnly.changed(), false)
  memory.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)')
  t.equal(ownOnly.changed(), true, 'an in-memory database can only change through its own connection')

  const rollbackJournal = new SQLite(join(dir, 'delete-mode.db'))
  t.teardown(() => rollbackJournal.close())
  rollbackJournal.pragma('journal_mode = DELETE')
  t.equal(changeSignalFor(rollbackJournal, join(dir, 'delete-mode.db')).signal, null, 'no WAL, no signal: the cache stays off')
})

t.test('an existing SQLite file not in WAL mode keeps its journal mode; tessera runs without its cache, and says so once', async (t) => {
  if (TEST_DIALECT !== 'sqlite') return t.pass('SQLite only')
  const { sqlitePath } = freshDatabaseUrl(t)
  const appOwned = new SQLite(sqlitePath!)
  appOwned.exec('CREATE TABLE app_things (x)')
  t.equal(appOwned.pragma('journal_mode', { simple: true }), 'delete')
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(async () => { await app.close(); appOwned.close() })
  const database = openDatabase(appOwned)
  t.teardown(() => database.close())
  await app.register(tessera, { database, sweepInterval: null, loginRateLimit: null })
  t.equal(appOwned.pragma('journal_mode', { simple: true }), 'delete', 'still in its own journal mode')
  t.equal(lines.filter((line) => line.includes('without its token cache')).length, 1, 'logged once')
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: PASSWORD } })
  const { token, tokenId } = registered.json()
  t.equal((await me(app, token)).statusCode, 200)
  appOwned.prepare('DELETE FROM tessera_tokens WHERE id = ?').run(tokenId)
  t.equal((await me(app, token)).statusCode, 401, "the application's own revocation is seen at once")
})

t.test('a revocation made through a symlinked path is honoured at once', async (t) => {
  if (TEST_DIALECT !== 'sqlite') return t.pass('SQLite only')
  const { sqlitePath } = freshDatabaseUrl(t)
  const link = join(dirname(sqlitePath!), 'linked', 'tessera.db')
  mkdirSync(dirname(link))
  // The file lives at sqlitePath; the service is given a symlink to it, as a deployment might be.
  new SQLite(sqlitePath!).close()
  symlinkSync(sqlitePath!, link)
  const { app } = await buildTestApp(t, {}, { DATABASE_URL: `sqlite:${link}` })
  const { token, tokenId } = await register(app)
  t.equal((await me(app, token)).statusCode, 200, 'cached')
  const outside = new SQLite(sqlitePath!)
  t.teardown(() => outside.close())
  outside.prepare('DELETE FROM tessera_tokens WHERE id = ?').run(tokenId)
  t.equal((await me(app, token)).statusCode, 401, 'the revocation through the real path is seen on the next request')
})

// Uses are committed at synchronous=NORMAL (no fsync each turn); the connection's own level must
// come back for everything else, or logins and revocations would silently lose their durability.
t.test('writing the uses of a turn leaves the connection at its own synchronous level', async (t) => {
  const { app, sqlitePath } = await buildTestApp(t)
  if (sqlitePath === undefined) return t.pass('SQLite only')
  const { token, tokenId } = await register(app)
  for (const level of [2, 3, 1]) {
    // A lookup of the service's kind on a connection of the test's own, whose level it can read.
    const connection = new SQLite(sqlitePath)
    connection.pragma(`synchronous = ${level}`)
    const kysely = new Kysely<Tables>({ dialect: new SqliteDialect({ database: connection }) })
    const lookup = createTokenLookup({ dialect: 'sqlite', kysely, sqlite: connection, file: sqlitePath, cacheSize: 10 })
    const record = await lookup.find(tokenDigest(token))
    t.ok(record, 'found')
    const usedAt = Date.now() + level
    lookup.recordUse(record!, usedAt, null, null, (error) => t.error(error))
    await lookup.flushUses()
    t.equal(connection.pragma('synchronous', { simple: true }), level, `level ${level} restored after the write`)
    const outside = new SQLite(sqlitePath)
    t.equal(outside.prepare('SELECT last_used_at FROM tessera_tokens WHERE id = ?').pluck().get(tokenId), usedAt, 'the use was committed')
    outside.close()
    await lookup.close()
    await kysely.destroy()
  }
})

// That a write first commits the uses waiting is shown by limits.test.ts (evict-oldest).
t.test('a use is written within its window without anything asking for it', async (t) => {
  const { app, sqlitePath } = await buildTestApp(t)
  if (sqlitePath === undefined) return t.pass('SQLite only: PostgreSQL writes the uses of each turn')
  const { token, tokenId } = await register(app)
  const outside = new SQLite(sqlitePath, { readonly: true })
  t.teardown(() => outside.close())
  const lastUsedAt = outside.prepare('SELECT last_used_at FROM tessera_tokens WHERE id = ?').pluck()
  t.equal((await me(app, token)).statusCode, 200)
  let written: unknown = null
  for (const deadline = Date.now() + 5000; written === null && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    written = lastUsedAt.get(tokenId)
  }
  t.type(written, 'number', 'written by the window alone')
})
