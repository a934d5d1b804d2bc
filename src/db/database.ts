/**
 * Opens tessera's database: an embedded SQLite file (the default), a PostgreSQL server, or the
 * application's own open better-sqlite3 `Database` or `pg.Pool`, shared with it. Everything above
 * this module sees one Kysely instance and one token lookup; the few dialect differences live here
 * and in `tokens/lookup.ts`.
 */
import { existsSync, realpathSync, statSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, type PostgresPool, type PostgresPoolClient } from 'kysely'
import pg from 'pg'
import { DEFAULT_TOKEN_CACHE_SIZE } from '../settings.js'
import { createTokenLookup, type TokenLookup } from '../tokens/lookup.js'
import type { NamedQuery } from '../tokens/postgres-lookup.js'
import { groupCommit, transactionPerWrite, type Transact } from './group-commit.js'
import { cachingStatements } from './statement-cache.js'
import type { Tables } from './schema.js'

export type Dialect = 'sqlite' | 'postgres'

export interface Database {
  readonly kysely: Kysely<Tables>
  readonly dialect: Dialect
  /**
   * Runs a write (a login, a logout, a revocation) in a transaction and resolves once it is
   * durable; on SQLite the writes of one event-loop turn share one commit (`group-commit.ts`).
   */
  readonly transact: Transact
  /** The per-request token lookup (prepared once, cached where that can be exact). */
  readonly tokenLookup: TokenLookup
  /** PostgreSQL: runs a named (prepared once per connection) statement, for the per-request queries. */
  readonly namedQuery?: NamedQuery
  /** A short description for logs: the file, or the server's host and database; never a password. */
  readonly description: string
  /** Set when the token cache is off for a reason an operator should hear about (logged once). */
  readonly cacheOffReason: string | undefined
  /** Closes what tessera opened; an application's own connection or pool is left open. */
  close: () => Promise<void>
}

export interface DatabaseOptions {
  /** Most connections a PostgreSQL pool opens (ignored for a pool you pass). */
  poolSize?: number
  /** How long a SQLite writer waits for another connection's write lock before giving up (default 5 s; ignored for a database you pass). */
  busyTimeoutMs?: number
  /** Most tokens the SQLite token cache holds (default 10 000); 0 turns the cache off. */
  tokenCacheSize?: number
  /**
   * SQLite: whether the writes of one event-loop turn share one commit (default true); false
   * commits each on its own, one fsync each (ignored on PostgreSQL).
   */
  groupCommit?: boolean
}

/**
 * `DATABASE_URL` (`sqlite:<path>`, `sqlite::memory:`, `postgres://…`), or the application's own
 * open better-sqlite3 `Database` or `pg.Pool`, to keep tessera's tables beside its own:
 *
 * ```ts
 * const sqlite = new Database('./app.db')
 * await app.register(tessera, { database: openDatabase(sqlite), users })
 * ```
 */
export function openDatabase (source: string | SQLite.Database | pg.Pool, options: DatabaseOptions = {}): Database {
  const sqliteOptions = { cacheSize: options.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE, groupCommit: options.groupCommit ?? true }
  if (typeof source !== 'string') {
    // Recognised by shape, not `instanceof`: the application's copy of the driver may not be ours.
    if (isSqlite(source)) {
      // A connection of tessera's own to the application's file, where there is a file: on one
      // shared connection, a transaction the application holds open across an await would take in
      // tessera's statements (and tessera's BEGIN would fail inside it). An application's
      // transaction still carries tessera's writes when passed as `transaction`.
      const file = mainFile(source)
      return file === undefined
        ? sqliteDatabase(source, false, sqliteOptions)
        : sqliteDatabase(openSqliteFile(file, options.busyTimeoutMs ?? 5000, false), true, sqliteOptions)
    }
    if (isPool(source)) return postgresDatabase(source, false, 'the application\'s pg.Pool')
    throw new TypeError('openDatabase: expected a DATABASE_URL, a better-sqlite3 Database or a pg.Pool')
  }
  if (source.startsWith('sqlite:')) {
    return sqliteDatabase(openSqliteFile(source.slice('sqlite:'.length), options.busyTimeoutMs ?? 5000, true), true, sqliteOptions)
  }
  if (/^postgres(ql)?:\/\//.test(source)) return postgresDatabase(newPool(source, options.poolSize ?? 10), true, describeUrl(source))
  throw new Error(`unsupported DATABASE_URL ${JSON.stringify(describeUrl(source))}: use sqlite:<path> or postgres://…`)
}

function isSqlite (source: unknown): source is SQLite.Database {
  return typeof (source as SQLite.Database | null)?.pragma === 'function' && typeof (source as SQLite.Database).prepare === 'function'
}

function isPool (source: unknown): source is pg.Pool {
  return typeof (source as pg.Pool | null)?.connect === 'function' && typeof (source as pg.Pool).query === 'function'
}

/**
 * Opens a SQLite file. One that tessera creates is put in WAL mode (readers never wait for the
 * writer; the token cache watches its WAL index). An existing file keeps the journal mode its
 * owner chose: changing it would change the application's database behind its back.
 */
function openSqliteFile (path: string, busyTimeoutMs: number, mayCreate: boolean): SQLite.Database {
  const memory = path === ':memory:'
  const created = mayCreate && !memory && !(existsSync(path) && statSync(path).size > 0)
  if (!memory) mkdirSync(dirname(path), { recursive: true })
  const sqlite = new SQLite(path)
  if (created) sqlite.pragma('journal_mode = WAL')
  // FULL: a login or a revocation that was answered survives a power cut, not only a crash.
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`)
  return sqlite
}

function sqliteDatabase (sqlite: SQLite.Database, owned: boolean, { cacheSize, groupCommit: grouped }: { cacheSize: number, groupCommit: boolean }): Database {
  // Kysely closes its database when destroyed: an application's own connection must stay open.
  // Its statements are prepared once per SQL text (`statement-cache.ts`), not once per query.
  const kysely = new Kysely<Tables>({
    dialect: new SqliteDialect({ database: cachingStatements(sqlite, { close: owned ? () => sqlite.close() : () => {} }) })
  })
  const file = mainFile(sqlite)
  const lookup = createTokenLookup({ dialect: 'sqlite', kysely, sqlite, file, cacheSize })
  const transact = grouped ? groupCommit(kysely) : transactionPerWrite(kysely)
  return {
    kysely,
    dialect: 'sqlite',
    // The token uses waiting (written every 100 ms) go first: a write that reads them (the least
    // recently used session a login evicts) must see every use made before it was asked for.
    transact: async (write) => {
      lookup.flushUses()
      return await transact(write)
    },
    tokenLookup: lookup,
    description: `sqlite:${file ?? ':memory:'}`,
    get cacheOffReason () { return lookup.cacheOffReason },
    close: async () => {
      lookup.close()
      await kysely.destroy()
    }
  }
}

/**
 * The main database file as SQLite opened it: absolute, with symlinks resolved (SQLite follows
 * them, and names its `-wal` and `-shm` files after the target). `undefined` for an in-memory or
 * temporary database.
 */
function mainFile (sqlite: SQLite.Database): string | undefined {
  const main = (sqlite.pragma('database_list') as Array<{ name: string, file: string }>).find((entry) => entry.name === 'main')
  if (main === undefined || main.file === '') return undefined
  try {
    return realpathSync(main.file)
  } catch {
    return main.file
  }
}

/** PostgreSQL's `int8` (our epoch-millisecond columns) arrives as a string unless parsed. */
const INT8_OID = 20

/**
 * How tessera's queries read PostgreSQL values, set on each query rather than on the pool, so that
 * an application's pool keeps its own parsers for its own queries.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser
}

/**
 * How long to wait for a PostgreSQL connection, new or from a busy pool, before failing. Without
 * it an unreachable (firewalled) server would hang startup, and every request, forever.
 */
const PG_CONNECT_TIMEOUT_MS = 10_000

function newPool (url: string, poolSize: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    // Shown in pg_stat_activity; an `application_name` in the URL wins.
    application_name: 'tessera'
  })
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  // Each new client gets its error listener the moment it connects, synchronously: a termination
  // that arrives in the same packet as the connection's readiness would otherwise be emitted
  // between the pool handing the client out and `connect` below adding the listener.
  pool.on('connect', watch)
  return pool
}

/** Clients that already have tessera's error listener. */
const watched = new WeakSet<pg.PoolClient>()

/** A client from the pool; a connection that dies while a query runs on it fails that query instead of reaching `uncaughtException`. */
async function connect (pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect()
  watch(client)
  return client
}

/** Gives a client tessera's error listener, once. */
function watch (client: pg.PoolClient): void {
  if (watched.has(client)) return
  watched.add(client)
  // The query in flight rejects by itself; without a listener the 'error' event would throw.
  client.on('error', () => {})
}

/**
 * The pool as Kysely uses it: every query with tessera's type parsers, on clients from `connect`;
 * an application's pool is never ended by tessera.
 */
function poolForKysely (pool: pg.Pool, owned: boolean): PostgresPool {
  return {
    connect: async () => {
      const client = await connect(pool)
      const adapted = {
        query: (text: string, values: unknown[]) => client.query({ text, values, types: TYPES }),
        release: () => client.release()
      }
      return adapted as unknown as PostgresPoolClient
    },
    end: async () => {
      if (owned) await pool.end()
    }
  }
}

/**
 * Named statements for the token lookup, which Kysely cannot name: on a client from `connect`,
 * with tessera's type parsers, rows as arrays. pg parses a name once per connection.
 */
function namedQuery (pool: pg.Pool): NamedQuery {
  return async ({ name, text, values }) => {
    const client = await connect(pool)
    try {
      return await client.query({ name, text, values, types: TYPES, rowMode: 'array' })
    } finally {
      client.release()
    }
  }
}

function postgresDatabase (pool: pg.Pool, owned: boolean, description: string): Database {
  const kysely = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: poolForKysely(pool, owned) }) })
  const query = namedQuery(pool)
  const lookup = createTokenLookup({ dialect: 'postgres', kysely, query })
  return {
    kysely,
    dialect: 'postgres',
    transact: transactionPerWrite(kysely),
    namedQuery: query,
    tokenLookup: lookup,
    description,
    cacheOffReason: undefined,
    close: async () => {
      // The uses recorded but not yet written go first; then the pool.
      await lookup.close()
      await kysely.destroy()
    }
  }
}

/** Error codes that mean the database server could not be reached or would not let us in. */
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'])

/**
 * Whether an error means the server was unreachable or refused the connection: a network error,
 * a pool timeout, or a PostgreSQL connection (08), authorisation (28) or missing-database
 * (3D000) error, or the server refusing new connections (57P03, 53300).
 */
function isConnectionError (error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error instanceof AggregateError) return error.errors.some(isConnectionError)
  if (error.cause !== undefined && isConnectionError(error.cause)) return true
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || /^(08|28)/.test(code) ||
    ['3D000', '57P03', '53300'].includes(code))) return true
  return /timeout exceeded when trying to connect|Connection terminated/i.test(error.message)
}

/** An error's message; Node reports a failed connection to every address of a host as an `AggregateError` with none. */
function reasonOf (error: unknown): string {
  if (error instanceof AggregateError && error.message === '') return error.errors.map(reasonOf).join('; ')
  return error instanceof Error ? error.message : String(error)
}

/**
 * Wraps an error met while opening, checking or migrating the database at `url` into one that
 * says which database (host, port and name; never the password) and why.
 *
 * ```ts
 * describeDatabaseError('postgres://app:s3cret@db:5432/tessera', refused).message
 * // 'cannot connect to the database at postgres://app:***@db:5432/tessera: connect ECONNREFUSED 10.0.0.5:5432'
 * ```
 */
export function describeDatabaseError (url: string, error: unknown): Error {
  const what = isConnectionError(error) ? 'cannot connect to the database at' : 'database'
  return new Error(`${what} ${describeUrl(url)}: ${reasonOf(error)}`, { cause: error })
}

/** The URL without its password, for messages. */
export function describeUrl (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    // libpq-style URLs may also carry secrets as query parameters.
    for (const name of ['password', 'sslpassword']) {
      if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***')
    }
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}
