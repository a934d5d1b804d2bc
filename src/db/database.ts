/**
 * Opens the database named by a `DATABASE_URL`: an embedded SQLite file (the default) or a
 * PostgreSQL server. Everything above this module sees one Kysely instance and one
 * credential lookup; the few dialect differences live here and in `credentials.ts`.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import { DEFAULT_TOKEN_CACHE_SIZE } from '../settings.js'
import { createCredentialStore, type CredentialStore } from '../tokens/lookup.js'
import type { Tables } from './schema.js'

export type Dialect = 'sqlite' | 'postgres'

export interface Database {
  readonly kysely: Kysely<Tables>
  readonly dialect: Dialect
  /** The per-request token lookup (prepared once, cached where that can be exact). */
  readonly credentials: CredentialStore
  /** A short description for logs: the file, or the server's host and database; never a password. */
  readonly description: string
  close: () => Promise<void>
}

export interface DatabaseOptions {
  /** Most connections a PostgreSQL pool opens. */
  poolSize?: number
  /** How long a SQLite writer waits for another connection's write lock before giving up (default 5 s). */
  busyTimeoutMs?: number
  /** Most credentials the SQLite token cache holds (default 10 000); 0 turns the cache off. */
  tokenCacheSize?: number
}

export function openDatabase (url: string, options: DatabaseOptions = {}): Database {
  if (url.startsWith('sqlite:')) {
    return openSqlite(url.slice('sqlite:'.length), options.busyTimeoutMs ?? 5000, options.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE)
  }
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, options.poolSize ?? 10)
  throw new Error(`unsupported DATABASE_URL ${JSON.stringify(describeUrl(url))}: use sqlite:<path> or postgres://…`)
}

function openSqlite (path: string, busyTimeoutMs: number, cacheSize: number): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const sqlite = new SQLite(path)
  if (path !== ':memory:') sqlite.pragma('journal_mode = WAL')
  // FULL: a login or a revocation that was answered survives a power cut, not only a crash.
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`)
  sqlite.pragma('foreign_keys = ON')
  const kysely = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) })
  const credentials = createCredentialStore({ dialect: 'sqlite', kysely, sqlite, path, cacheSize })
  return {
    kysely,
    dialect: 'sqlite',
    credentials,
    description: `sqlite:${path}`,
    close: async () => {
      credentials.close()
      await kysely.destroy()
    }
  }
}

/** PostgreSQL's `int8` (our epoch-millisecond columns) arrives as a string unless parsed. */
const INT8_OID = 20

/**
 * How long to wait for a PostgreSQL connection, new or from a busy pool, before failing. Without
 * it an unreachable (firewalled) server would hang startup, and every request, forever.
 */
const PG_CONNECT_TIMEOUT_MS = 10_000

function openPostgres (url: string, poolSize: number): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    // Shown in pg_stat_activity; an `application_name` in the URL wins.
    application_name: 'tessera',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser
    }
  })
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  const kysely = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) })
  return {
    kysely,
    dialect: 'postgres',
    credentials: createCredentialStore({ dialect: 'postgres', kysely }),
    description: describeUrl(url),
    close: () => kysely.destroy()
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
