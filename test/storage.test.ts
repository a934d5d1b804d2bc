import { createHash } from 'node:crypto'
import SQLite from 'better-sqlite3'
import t from 'tap'
import { PASSWORD, buildTestApp, login, register, uniqueName } from './helpers/app.js'

t.test('the database holds no token and no password in clear', async (t) => {
  const { app, sqlitePath } = await buildTestApp(t)
  const username = uniqueName()
  const issued = [await register(app, username), await login(app, username)]
  const db = app.tessera.database.kysely
  const tokens = await db.selectFrom('tessera_tokens').selectAll().execute()
  const users = await db.selectFrom('tessera_users').selectAll().execute()
  t.equal(tokens.length, 2)
  for (const { token, tokenId } of issued) {
    const row = tokens.find((candidate) => candidate.id === tokenId)!
    t.same(row.digest, createHash('sha256').update(token).digest(), 'stored: the SHA-256 digest of the whole token')
    t.equal(row.format, 1)
    t.notMatch(tokenId, token.slice(4, 20), 'the public id is not derived from the secret')
  }
  t.match(users[0]!.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'argon2id at OWASP minimum parameters')

  // Nothing secret anywhere in the file, in any encoding it might take.
  await app.close()
  if (sqlitePath !== undefined) {
    const sqlite = new SQLite(sqlitePath)
    sqlite.pragma('wal_checkpoint(TRUNCATE)')
    sqlite.close()
    const { readFileSync } = await import('node:fs')
    const file = readFileSync(sqlitePath)
    for (const { token } of issued) {
      t.equal(file.indexOf(token), -1, 'no token in the file')
      t.equal(file.indexOf(token.slice(4, 30)), -1, 'no part of a secret in the file')
    }
    t.equal(file.indexOf(PASSWORD), -1, 'no password in the file')
  }
})
