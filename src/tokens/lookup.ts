/**
 * The one query on the hot path: find a token by its digest, joined to its user.
 *
 * The SQL is built once with Kysely and compiled at startup, never per request. On SQLite it runs
 * as a better-sqlite3 statement prepared once, behind a cache that is exact: before answering, it
 * asks a change signal (`change-signal.ts`: one read of the WAL-index header, which every commit
 * rewrites, whoever makes it — this process, the CLI, another process) whether anything was
 * committed, and empties itself if so. A revocation made anywhere is therefore honoured on the
 * very next request. The lookups of one event-loop turn share that one look (see
 * `#answerWaiting`): on a busy server a request costs a map lookup, not a transaction.
 * PostgreSQL cannot offer such a signal without a round trip, so there every request queries.
 */
import type SQLite from 'better-sqlite3'
import { CompiledQuery, type Kysely } from 'kysely'
import { digestBytes } from './format.js'
import { toTesseraUser, type TesseraUser } from '../users/builtin/user.js'
import { changeSignalFor, type ChangeSignal } from './change-signal.js'
import type { Tables } from '../db/schema.js'

/** A token and its user, as the authentication hook needs them. */
export interface Credential {
  tokenId: string
  tokenCreatedAt: number
  expiresAt: number | null
  lastUsedAt: number | null
  deactivatedAt: number | null
  /** The user as `request.user` shows it, built once per lookup (not per request). */
  user: TesseraUser
}

export interface CredentialStore {
  /**
   * The credential stored under `digest` (see `tokenDigest`), if any. The result may be shared
   * with later calls: do not modify it.
   */
  find: (digest: string) => Credential | undefined | Promise<Credential | undefined>
  close: () => void
}

/** The row the lookup query returns. */
interface CredentialRow {
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

function credentialOf (row: CredentialRow | undefined): Credential | undefined {
  if (row === undefined) return undefined
  return {
    tokenId: row.tokenId,
    tokenCreatedAt: row.tokenCreatedAt,
    expiresAt: row.expiresAt,
    lastUsedAt: row.lastUsedAt,
    deactivatedAt: row.deactivatedAt,
    user: toTesseraUser({ id: row.userId, username: row.username, email: row.email, created_at: row.userCreatedAt })
  }
}

type StoreOptions =
  | { dialect: 'sqlite', kysely: Kysely<Tables>, sqlite: SQLite.Database, path: string, cacheSize: number }
  | { dialect: 'postgres', kysely: Kysely<Tables> }

export function createCredentialStore (options: StoreOptions): CredentialStore {
  const { sql } = lookupQuery(options.kysely)
  if (options.dialect === 'postgres') {
    const { kysely } = options
    return {
      find: async (digest) =>
        credentialOf((await kysely.executeQuery<CredentialRow>(CompiledQuery.raw(sql, [digestBytes(digest)]))).rows[0]),
      close: () => {}
    }
  }
  return new SqliteCredentials(options.sqlite, options.path, sql, options.cacheSize)
}

interface WaitingLookup {
  digest: string
  resolve: (credential: Credential | undefined) => void
  reject: (error: unknown) => void
}

class SqliteCredentials implements CredentialStore {
  readonly #sqlite: SQLite.Database
  readonly #path: string
  readonly #sql: string
  readonly #cacheSize: number
  readonly #cache = new Map<string, Credential>()
  readonly #waiting: WaitingLookup[] = []
  // Prepared on first use: the tables may not exist until the migrations have run. A null signal
  // means the cache is off (size 0, a database whose changes cannot be watched, or closed).
  #prepared?: { lookup: SQLite.Statement<[Buffer], CredentialRow>, signal: ChangeSignal | null }

  constructor (sqlite: SQLite.Database, path: string, sql: string, cacheSize: number) {
    this.#sqlite = sqlite
    this.#path = path
    this.#sql = sql
    this.#cacheSize = cacheSize
  }

  find (digest: string): Credential | undefined | Promise<Credential | undefined> {
    const { lookup, signal } = this.#prepared ??= {
      lookup: this.#sqlite.prepare<[Buffer], CredentialRow>(this.#sql),
      signal: this.#cacheSize > 0 ? changeSignalFor(this.#sqlite, this.#path) ?? null : null
    }
    if (signal === null) return this.#lookUp(lookup, digest)
    return new Promise((resolve, reject) => {
      if (this.#waiting.push({ digest, resolve, reject }) === 1) setImmediate(this.#answerWaiting)
    })
  }

  /**
   * Answers every lookup that arrived since the last call, after one look at the change signal.
   * `setImmediate` runs it once the event loop has read all the requests of this turn, so the
   * signal is read after each of them arrived: whatever was committed before a client sent its
   * request is seen, and the look (a system call) is shared by every request of the turn.
   */
  readonly #answerWaiting = (): void => {
    const { lookup, signal } = this.#prepared!
    const waiting = this.#waiting.splice(0)
    try {
      // Closed meanwhile (signal gone): no cache; the lookups below fail as the driver says.
      if (signal === null || signal.changed()) this.#cache.clear()
    } catch (error) {
      for (const entry of waiting) entry.reject(error)
      return
    }
    for (const { digest, resolve, reject } of waiting) {
      const cached = this.#cache.get(digest)
      if (cached !== undefined) {
        resolve(cached)
        continue
      }
      try {
        const found = this.#lookUp(lookup, digest)
        // Inside an open transaction the connection sees its own uncommitted rows: never cache those.
        if (found !== undefined && signal !== null && !this.#sqlite.inTransaction) {
          if (this.#cache.size >= this.#cacheSize) this.#cache.clear()
          this.#cache.set(digest, found)
        }
        resolve(found)
      } catch (error) {
        reject(error)
      }
    }
  }

  #lookUp (lookup: SQLite.Statement<[Buffer], CredentialRow>, digest: string): Credential | undefined {
    return credentialOf(lookup.get(digestBytes(digest)))
  }

  close (): void {
    if (this.#prepared?.signal == null) return
    this.#prepared.signal.close()
    this.#prepared = { ...this.#prepared, signal: null }
  }
}
