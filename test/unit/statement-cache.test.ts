/**
 * The statement cache in front of Kysely's SQLite driver (`src/db/statement-cache.ts`): bounded,
 * least recently used out first, and never an answer of the wrong shape: a statement prepared
 * before a schema change (this connection's or another's) answers with the table as it now is.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import t from 'tap'
import { openDatabase } from '../../src/db/database.js'
import { cachingStatements, MAX_CACHED_SQL } from '../../src/db/statement-cache.js'

function fileDatabase (t: { teardown: (fn: () => void) => void }): { file: string, sqlite: SQLite.Database } {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-statements-'))
  const file = join(dir, 'cache.db')
  const sqlite = new SQLite(file)
  sqlite.pragma('journal_mode = WAL')
  t.teardown(() => {
    sqlite.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { file, sqlite }
}

t.test('a statement is prepared once per SQL text and answers each run with its own parameters', async (t) => {
  const { sqlite } = fileDatabase(t)
  const cache = cachingStatements(sqlite, { close: () => {} })
  const first = cache.prepare('SELECT ? + 1 AS n')
  t.equal(cache.prepare('SELECT ? + 1 AS n'), first, 'the same statement again')
  t.same(cache.prepare('SELECT ? + 1 AS n').all([1]), [{ n: 2 }])
  t.same(cache.prepare('SELECT ? + 1 AS n').all([41]), [{ n: 42 }])
  t.not(cache.prepare('SELECT ? + 2 AS n'), first, 'another text, another statement')
})

t.test('the cache holds at most `size` statements, the least recently used leaving first', async (t) => {
  const { sqlite } = fileDatabase(t)
  const cache = cachingStatements(sqlite, { size: 3, close: () => {} })
  const text = (i: number): string => `SELECT ${i} AS n`
  const [a, b] = [cache.prepare(text(1)), cache.prepare(text(2))]
  cache.prepare(text(3))
  t.equal(cache.prepare(text(1)), a, 'used again: now the most recent')
  cache.prepare(text(4))
  t.not(cache.prepare(text(2)), b, 'the least recently used was dropped when a fourth came')
  t.equal(cache.prepare(text(1)), a, 'the recently used one stayed')
  // Many distinct texts: each still answers right, whatever was dropped meanwhile.
  for (let i = 0; i < 500; i++) t.same(cache.prepare(text(i % 7)).all([]), [{ n: i % 7 }])
})

t.test('SQL longer than MAX_CACHED_SQL (a batch of many rows) is prepared each time, not kept', async (t) => {
  const { sqlite } = fileDatabase(t)
  const cache = cachingStatements(sqlite, { close: () => {} })
  const long = `SELECT ${Array.from({ length: MAX_CACHED_SQL / 4 }, (_, i) => i).join(' + ')} AS n`
  t.ok(long.length > MAX_CACHED_SQL)
  t.not(cache.prepare(long), cache.prepare(long))
})

t.test('a statement prepared before a schema change answers with the table as it now is', async (t) => {
  const { file, sqlite } = fileDatabase(t)
  const cache = cachingStatements(sqlite, { close: () => {} })
  sqlite.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)')
  const select = cache.prepare('SELECT * FROM t')
  t.same(select.all([]), [{ x: 1 }])

  sqlite.exec('ALTER TABLE t ADD COLUMN y INTEGER DEFAULT 2')
  t.equal(cache.prepare('SELECT * FROM t'), select, 'still the cached statement')
  t.same(cache.prepare('SELECT * FROM t').all([]), [{ x: 1, y: 2 }], 'with the column added on this connection')

  // Another connection (the CLI migrating, another process) replaces the table.
  const other = new SQLite(file)
  other.exec('DROP TABLE t; CREATE TABLE t (z TEXT); INSERT INTO t VALUES (\'new\')')
  other.close()
  t.same(cache.prepare('SELECT * FROM t').all([]), [{ z: 'new' }], 'with the table another connection made')

  sqlite.exec('DROP TABLE t')
  t.throws(() => cache.prepare('SELECT * FROM t').all([]), /no such table: t/, 'and fails, as a fresh one would, once the table is gone')
})

t.test('a statement still being iterated is not handed out again: a fresh one runs instead', async (t) => {
  const { sqlite } = fileDatabase(t)
  const cache = cachingStatements(sqlite, { close: () => {} })
  sqlite.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3)')
  const text = 'SELECT x FROM t ORDER BY x'
  const streaming = cache.prepare(text)
  const rows = streaming.iterate([])
  t.same(rows.next().value, { x: 1 })
  const meanwhile = cache.prepare(text)
  t.not(meanwhile, streaming)
  t.same(meanwhile.all([]), [{ x: 1 }, { x: 2 }, { x: 3 }])
  t.same([...rows], [{ x: 2 }, { x: 3 }], 'the iteration goes on undisturbed')
  t.equal(cache.prepare(text), streaming, 'done iterating: the cached one serves again')
})

t.test('close empties the cache and closes what it was told to (tessera\'s connection, not an application\'s)', async (t) => {
  const { sqlite } = fileDatabase(t)
  let closed = 0
  const cache = cachingStatements(sqlite, { close: () => { closed++ } })
  cache.prepare('SELECT 1')
  cache.close()
  t.equal(closed, 1)
  t.equal(sqlite.open, true, 'the connection itself is the caller\'s to close')
})

t.test('through Kysely: a schema change an application makes on its own connection, and streams', async (t) => {
  // An in-memory database is shared: tessera's Kysely runs on the application's own connection.
  const app = new SQLite(':memory:')
  t.teardown(() => app.close())
  const database = openDatabase(app)
  const kysely = database.kysely as unknown as Kysely<{ things: { id: number, name: string } }>
  app.exec('CREATE TABLE things (id INTEGER PRIMARY KEY); INSERT INTO things (id) VALUES (1), (2)')
  const query = kysely.selectFrom('things').selectAll().orderBy('id')
  t.same(await query.execute(), [{ id: 1 }, { id: 2 }])

  app.exec('ALTER TABLE things ADD COLUMN name TEXT DEFAULT \'thing\'')
  t.same(await query.execute(), [{ id: 1, name: 'thing' }, { id: 2, name: 'thing' }], 'the same SQL sees the new column')

  // A stream left early lets go of its statement: the same query runs again at once.
  const stream = query.stream()[Symbol.asyncIterator]()
  t.same((await stream.next()).value, { id: 1, name: 'thing' })
  await stream.return?.()
  t.equal((await query.execute()).length, 2)
  const streamed: unknown[] = []
  for await (const row of query.stream()) streamed.push(row)
  t.equal(streamed.length, 2)
  await database.close()
  t.equal(app.open, true, 'the application\'s connection stays open')
})

t.test('Kysely over a cached connection: destroy closes tessera\'s own connection', async (t) => {
  const { file } = fileDatabase(t)
  const own = new SQLite(file)
  const kysely = new Kysely<Record<string, never>>({ dialect: new SqliteDialect({ database: cachingStatements(own, { close: () => own.close() }) }) })
  await sql`SELECT 1`.execute(kysely)
  await kysely.destroy()
  t.equal(own.open, false)
})
