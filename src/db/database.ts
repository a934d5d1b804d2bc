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
import { createCredentialStore, type CredentialStore } from './credentials.js'
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
}

export function openDatabase (url: string, options: DatabaseOptions = {}): Database {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length), options.busyTimeoutMs ?? 5000)
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, options.poolSize ?? 10)
  throw new Error(`unsupported DATABASE_URL ${JSON.stringify(describeUrl(url))}: use sqlite:<path> or postgres://…`)
}

function openSqlite (path: string, busyTimeoutMs: number): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const sqlite = new SQLite(path)
  if (path !== ':memory:') sqlite.pragma('journal_mode = WAL')
  // FULL: a login or a revocation that was answered survives a power cut, not only a crash.
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`)
  sqlite.pragma('foreign_keys = ON')
  const kysely = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) })
  return {
    kysely,
    dialect: 'sqlite',
    credentials: createCredentialStore({ dialect: 'sqlite', kysely, sqlite }),
    description: `sqlite:${path}`,
    close: () => kysely.destroy()
  }
}

/** PostgreSQL's `int8` (our epoch-millisecond columns) arrives as a string unless parsed. */
const INT8_OID = 20

function openPostgres (url: string, poolSize: number): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
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

/** The URL without its password, for messages. */
export function describeUrl (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}
