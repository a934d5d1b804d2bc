/**
 * Group commit: the writes of one event-loop turn share one SQLite transaction (one fsync), each
 * in a savepoint of its own, each answered once the commit is done.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import t from 'tap'
import { groupCommit, transactionPerWrite } from '../../src/db/group-commit.js'
import { auth, buildTestApp, login, PASSWORD, register, uniqueName, type TestContext } from '../helpers/app.js'

interface Db {
  item: { id: number, owner: number | null }
  owner: { id: number }
}

/** A SQLite file behind Kysely that counts the transactions begun on it, and a second connection to look with. */
function countingDatabase (t: TestContext): { kysely: Kysely<Db>, other: SQLite.Database, begun: () => number } {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-group-'))
  const file = join(dir, 'group.db')
  const sqlite = new SQLite(file)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.exec(`CREATE TABLE owner (id INTEGER PRIMARY KEY);
    CREATE TABLE item (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owner (id) DEFERRABLE INITIALLY DEFERRED);
    INSERT INTO owner (id) VALUES (1)`)
  let begun = 0
  const kysely = new Kysely<Db>({
    dialect: new SqliteDialect({
      database: {
        prepare: (text: string) => {
          if (/^begin/i.test(text)) begun++
          return sqlite.prepare(text)
        },
        close: () => sqlite.close()
      }
    })
  })
  const other = new SQLite(file, { readonly: true })
  t.teardown(async () => {
    other.close()
    await kysely.destroy()
    rmSync(dir, { recursive: true, force: true })
  })
  return { kysely, other, begun: () => begun }
}

t.test('the writes of one turn commit in one transaction, and each is answered after that commit', async (t) => {
  const { kysely, other, begun } = countingDatabase(t)
  const transact = groupCommit(kysely)
  const seenAtAnswer: boolean[] = []
  await Promise.all(Array.from({ length: 32 }, async (_, i) => {
    await transact(async (trx) => await trx.insertInto('item').values({ id: i + 1, owner: 1 }).execute())
    seenAtAnswer.push(other.prepare('SELECT 1 FROM item WHERE id = ?').get(i + 1) !== undefined)
  }))
  t.equal(begun(), 1, 'one transaction for 32 writes')
  t.same(seenAtAnswer, Array(32).fill(true), 'each write was durable, seen by another connection, when answered')
})

t.test('without group commit (TESSERA_GROUP_COMMIT=false) each write is a transaction of its own', async (t) => {
  const { kysely, begun } = countingDatabase(t)
  const transact = transactionPerWrite(kysely)
  await Promise.all(Array.from({ length: 4 }, async (_, i) =>
    await transact(async (trx) => await trx.insertInto('item').values({ id: i + 1, owner: 1 }).execute())))
  t.equal(begun(), 4)
})

t.test('a write that fails is undone alone; the others of its group commit', async (t) => {
  const { kysely, other, begun } = countingDatabase(t)
  const transact = groupCommit(kysely)
  const results = await Promise.allSettled([
    transact(async (trx) => await trx.insertInto('item').values({ id: 1, owner: 1 }).execute()),
    transact(async (trx) => {
      await trx.insertInto('item').values({ id: 2, owner: 1 }).execute()
      throw new Error('refused after writing')
    }),
    transact(async (trx) => await trx.insertInto('item').values({ id: 1, owner: 1 }).execute()), // a duplicate key
    transact(async (trx) => {
      await trx.insertInto('item').values({ id: 3, owner: 1 }).execute()
      return 'three'
    })
  ])
  t.same(results.map((result) => result.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled'])
  t.match((results[1] as PromiseRejectedResult).reason, { message: 'refused after writing' })
  t.equal((results[3] as PromiseFulfilledResult<string>).value, 'three', 'a write answers with its own value')
  t.same(other.prepare('SELECT id FROM item ORDER BY id').pluck().all(), [1, 3])
  t.equal(begun(), 1)
})

t.test('when the commit fails, every write of the group is refused and none is kept', async (t) => {
  const { kysely, other } = countingDatabase(t)
  const transact = groupCommit(kysely)
  // A deferred foreign key is checked only at COMMIT: the group's commit fails, not the write.
  const results = await Promise.allSettled([
    transact(async (trx) => await trx.insertInto('item').values({ id: 1, owner: 1 }).execute()),
    transact(async (trx) => await trx.insertInto('item').values({ id: 2, owner: 99 }).execute())
  ])
  t.same(results.map((result) => result.status), ['rejected', 'rejected'])
  t.same(other.prepare('SELECT id FROM item').pluck().all(), [])
  // The next turn's writes are not affected.
  await transact(async (trx) => await trx.insertInto('item').values({ id: 5, owner: 1 }).execute())
  t.same(other.prepare('SELECT id FROM item').pluck().all(), [5])
})

t.test('logouts and logins of one turn through the service, some of them refused', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 5, tokenLimitPolicy: 'refuse' })
  const alice = uniqueName()
  const kept = await register(app, alice)
  const devices = await Promise.all([1, 2].map(async (i) => await login(app, alice, PASSWORD, `device ${i}`)))
  const bob = uniqueName()
  const bobs = await register(app, bob)
  // Bob holds 1 token of 5: of 8 concurrent logins, 4 are let in and 4 refused, whatever shares a commit.
  const answers = await Promise.all([
    app.inject({ method: 'POST', url: '/auth/logout', headers: auth(devices[0]!.token) }),
    app.inject({ method: 'POST', url: '/auth/logout', headers: auth(devices[1]!.token) }),
    ...Array.from({ length: 8 }, async () => await app.inject({
      method: 'POST', url: '/auth/login', payload: { username: bob, password: PASSWORD }
    }))
  ])
  t.same(answers.slice(0, 2).map((answer) => answer.statusCode), [204, 204])
  t.same(answers.slice(2).map((answer) => answer.statusCode).sort(), [200, 200, 200, 200, 403, 403, 403, 403])
  for (const device of devices) {
    t.equal((await app.inject({ url: '/auth/me', headers: auth(device.token) })).statusCode, 401, 'logged out')
  }
  t.equal((await app.inject({ url: '/auth/me', headers: auth(kept.token) })).statusCode, 200)
  const sessions = await app.inject({ url: '/auth/tokens', headers: auth(bobs.token) })
  t.equal(sessions.json().length, 5, 'the registration and the four logins let in')
  for (const answer of answers.slice(2).filter((answer) => answer.statusCode === 200)) {
    t.equal((await app.inject({ url: '/auth/me', headers: auth(answer.json().token) })).statusCode, 200)
  }
})
