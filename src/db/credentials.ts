/**
 * The one query on the hot path: find a token by its digest, joined to its user.
 *
 * The SQL is built once with Kysely and compiled at startup, never per request. On SQLite it runs
 * as a better-sqlite3 statement prepared once, in front of a cache that is exact: every request
 * first reads the connection's change counters (`total_changes()` counts this connection's
 * writes, `PRAGMA data_version` moves when any other connection — the CLI, another process —
 * commits), and any change empties the cache. A revocation made anywhere is therefore honoured on
 * the very next request, while an unchanged database costs one tiny statement instead of a join.
 * PostgreSQL cannot offer that signal without a round trip, so there every request queries.
 */
import type SQLite from 'better-sqlite3'
import { CompiledQuery, type Kysely } from 'kysely'
import type { Tables } from './schema.js'

/** A token and its user, as the authentication hook needs them. */
export interface Credential {
  tokenId: string
  userId: number
  tokenCreatedAt: number
  expiresAt: number | null
  lastUsedAt: number | null
  username: string
  email: string | null
  userCreatedAt: number
  deactivatedAt: number | null
}

export interface CredentialStore {
  /** The credential stored under `digest`, if any. Synchronous where the driver is. */
  find: (digest: Buffer) => Credential | undefined | Promise<Credential | undefined>
}

/** Entries kept at most; past this the cache starts over rather than grow without bound. */
const CACHE_LIMIT = 10_000

function lookupQuery (kysely: Kysely<Tables>): CompiledQuery {
  return kysely
    .selectFrom('auth_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select([
      't.id as tokenId',
      't.user_id as userId',
      't.created_at as tokenCreatedAt',
      't.expires_at as expiresAt',
      't.last_used_at as lastUsedAt',
      'u.username as username',
      'u.email as email',
      'u.created_at as userCreatedAt',
      'u.deactivated_at as deactivatedAt'
    ])
    .where('t.digest', '=', Buffer.alloc(32))
    .compile()
}

type StoreOptions =
  | { dialect: 'sqlite', kysely: Kysely<Tables>, sqlite: SQLite.Database }
  | { dialect: 'postgres', kysely: Kysely<Tables> }

export function createCredentialStore (options: StoreOptions): CredentialStore {
  const { sql } = lookupQuery(options.kysely)
  if (options.dialect === 'postgres') {
    const { kysely } = options
    return {
      find: async (digest) => (await kysely.executeQuery<Credential>(CompiledQuery.raw(sql, [digest]))).rows[0]
    }
  }
  return new CachedSqliteCredentials(options.sqlite, sql)
}

class CachedSqliteCredentials implements CredentialStore {
  readonly #sqlite: SQLite.Database
  readonly #sql: string
  readonly #cache = new Map<string, Credential>()
  #ownWrites = -1
  #othersWrites = -1
  // Prepared on first use: the tables may not exist until the migrations have run.
  #statements?: { lookup: SQLite.Statement<[Buffer], Credential>, changes: SQLite.Statement<[], [number, number]> }

  constructor (sqlite: SQLite.Database, sql: string) {
    this.#sqlite = sqlite
    this.#sql = sql
  }

  find (digest: Buffer): Credential | undefined {
    const statements = this.#statements ??= {
      lookup: this.#sqlite.prepare<[Buffer], Credential>(this.#sql),
      changes: this.#sqlite
        .prepare<[], [number, number]>('SELECT total_changes(), (SELECT data_version FROM pragma_data_version)')
        .raw()
    }
    const [ownWrites, othersWrites] = statements.changes.get() as [number, number]
    if (ownWrites !== this.#ownWrites || othersWrites !== this.#othersWrites) {
      this.#cache.clear()
      this.#ownWrites = ownWrites
      this.#othersWrites = othersWrites
    }
    const key = digest.toString('latin1')
    const cached = this.#cache.get(key)
    if (cached !== undefined) return cached
    const found = statements.lookup.get(digest)
    // Inside an open transaction the connection sees its own uncommitted rows: never cache those.
    if (found !== undefined && !this.#sqlite.inTransaction) {
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear()
      this.#cache.set(key, found)
    }
    return found
  }
}
