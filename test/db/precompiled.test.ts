/**
 * Queries compiled once (`src/db/precompiled.ts`), on the dialect under test: each argument lands
 * in its own parameters whatever their order in the SQL, values of the query itself stay, and the
 * query runs in the transaction it is given.
 */
import { sql } from 'kysely'
import t from 'tap'
import { openDatabase } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { precompile } from '../../src/db/precompiled.js'
import { freshDatabaseUrl, type TestContext } from '../helpers/app.js'

async function migrated (t: TestContext) {
  const database = openDatabase(freshDatabaseUrl(t).url)
  t.teardown(async () => { await database.close() })
  await migrateToLatest(database.kysely)
  const now = Date.now()
  await database.kysely.insertInto('tessera_activity').values([
    { subject: 'a', type: 'login', at: now - 2000, token_id: 't1', device: 'phone', ip: null, user_agent: null },
    { subject: 'a', type: 'logout', at: now - 1000, token_id: 't1', device: 'phone', ip: null, user_agent: null },
    { subject: 'b', type: 'login', at: now - 1000, token_id: 't2', device: 'laptop', ip: null, user_agent: null },
    { subject: 'a', type: 'login', at: now, token_id: 't3', device: 'laptop', ip: null, user_agent: null }
  ]).execute()
  return { database, now }
}

t.test('arguments in any order, one used twice, beside a value of the query itself', async (t) => {
  const { database, now } = await migrated(t)
  // Declared (device, since, subject); in the SQL: subject, since, the constant 'login', device, since again.
  const find = precompile(database.kysely, (db, device: string, since: number, subject: string) =>
    db.selectFrom('tessera_activity').select(['token_id', 'at'])
      .where('subject', '=', subject).where('at', '>=', since).where('type', '=', 'login')
      .where('device', '=', device).where(sql<boolean>`${since} <= at`)
      .orderBy('at'))
  t.same((await find(database.kysely, 'laptop', now - 5000, 'a')).rows.map((row) => row.token_id), ['t3'])
  t.same((await find(database.kysely, 'phone', now - 5000, 'a')).rows.map((row) => row.token_id), ['t1'])
  t.same((await find(database.kysely, 'laptop', now - 5000, 'b')).rows.map((row) => row.token_id), ['t2'])
  t.same((await find(database.kysely, 'phone', now - 1500, 'a')).rows, [], 'the bound applies')
  const built = await database.kysely.selectFrom('tessera_activity').select(['token_id', 'at'])
    .where('subject', '=', 'a').where('at', '>=', now - 5000).where('type', '=', 'login').where('device', '=', 'laptop').execute()
  t.same((await find(database.kysely, 'laptop', now - 5000, 'a')).rows, built, 'as the query built each time answers')
})

t.test('it runs in the transaction it is given, and rolls back with it', async (t) => {
  const { database, now } = await migrated(t)
  const insert = precompile(database.kysely, (db, subject: string, at: number) =>
    db.insertInto('tessera_activity').values({ subject, type: 'logout', at, token_id: null, device: null, ip: null, user_agent: null }))
  const count = async (): Promise<number> =>
    (await database.kysely.selectFrom('tessera_activity').select('id').where('subject', '=', 'c').execute()).length
  await t.rejects(database.kysely.transaction().execute(async (trx) => {
    await insert(trx, 'c', now)
    t.equal((await trx.selectFrom('tessera_activity').select('id').where('subject', '=', 'c').execute()).length, 1, 'seen inside')
    throw new Error('changed my mind')
  }), { message: 'changed my mind' })
  t.equal(await count(), 0, 'rolled back')
  await database.transact(async (trx) => { await insert(trx, 'c', now) })
  t.equal(await count(), 1, 'committed')
})

t.test('an argument that does not reach the SQL is refused, not ignored', async (t) => {
  const { database } = await migrated(t)
  const find = precompile(database.kysely, (db, subject: string, _forgotten: string) =>
    db.selectFrom('tessera_activity').select('id').where('subject', '=', subject))
  await t.rejects(find(database.kysely, 'a', 'b'), /argument 2 is not a parameter/)
  await t.rejects(find(database.kysely, 'a', 'b'), /argument 2 is not a parameter/, 'every time')
})

t.test('an argument computed with while building (which would bake one value in) is refused', async (t) => {
  const { database } = await migrated(t)
  const since = precompile(database.kysely, (db, since: number) =>
    db.selectFrom('tessera_activity').select('id').where('at', '>', since - 1000))
  await t.rejects(since(database.kysely, 0), /argument 1 is used in a computation/)
  const prefixed = precompile(database.kysely, (db, subject: string) =>
    db.selectFrom('tessera_activity').select('id').where('subject', '=', `user:${subject}`))
  await t.rejects(prefixed(database.kysely, 'a'), /argument 1 is used in a computation/)
})

t.test('nothing is compiled before the first run: a holder may be made without a usable database', async (t) => {
  let built = 0
  const later = precompile(undefined as never, (db, subject: string) => {
    built++
    return db.selectFrom('tessera_activity').select('id').where('subject', '=', subject)
  })
  t.type(later, 'function')
  t.equal(built, 0)
})
