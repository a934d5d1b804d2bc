/**
 * The one query on the hot path: find a token by its digest.
 *
 * On SQLite the SQL is built once with Kysely and runs as a better-sqlite3 statement prepared
 * once, behind a cache that is exact: before answering, it
 * asks a change signal (`change-signal.ts`: one read of the WAL-index header, which every commit
 * rewrites, whoever makes it — this process, the CLI, another process) whether anything was
 * committed, and empties itself if so. A revocation made anywhere is therefore honoured on the
 * very next request. The lookups of one event-loop turn share that one look (see
 * `#answerWaiting`): on a busy server a request costs a map lookup, not a transaction.
 * PostgreSQL cannot offer such a signal without a round trip, so there every request queries:
 * the lookups waiting together as one named statement (`postgres-lookup.ts`), which also reads the
 * tokens' users when the user store lives in tessera's database (`UserJoin`).
 */
import type SQLite from 'better-sqlite3'
import type { CompiledQuery, Kysely } from 'kysely'
import type { Tables } from '../db/schema.js'
import { changeSignalFor, type ChangeSignal } from './change-signal.js'
import { digestBytes } from './format.js'
import { PostgresTokenLookup, type NamedQuery } from './postgres-lookup.js'

/** A stored token, as the hot path needs it (never its secret, which is not stored). */
export interface TokenRecord {
  id: string
  subject: string
  createdAt: number
  expiresAt: number | null
  lastUsedAt: number | null
  /** Its own lifetime, by which it slides; `null`: the configured TTL (see `tessera_tokens.ttl_ms`). */
  ttl: number | null
  device: string
  /** As stored: sorted, space-separated, or `*`. */
  scopes: string
}

/**
 * How a user store whose users live in tessera's own PostgreSQL database (the built-in one) has
 * the token lookup read a token's user in the same query, so that an authenticated request costs
 * one round trip per batch instead of two (the tokens, then `UserStore.find`). The store owns
 * this SQL (its table, its rule of who is active, its subjects); the lookup adds it to its own
 * query, in which `t` is the tokens found (`t.subject` among their columns).
 */
export interface UserJoin<User> {
  /** Names the joined statement (`tessera_token_lookup_<name>`): one text per name on a connection. */
  readonly name: string
  /**
   * A `LEFT JOIN` of the user table on `t.subject` that keeps every token row, whatever its subject
   * (a query that fails for one subject would fail its whole turn), and finds only a user that the
   * store's `find` would return.
   */
  readonly join: string
  /** The user's columns, selected after the token's; the first is `NULL` when the join found no user. */
  readonly columns: readonly string[]
  /** The user from a row's values from `at` on (`columns`, in order), for one request: never shared. */
  readonly toUser: (row: readonly unknown[], at: number) => User
}

/** A token record with its user, as a `UserJoin` read it: `null` when it has no active user. */
export type RecordWithUser<User> = TokenRecord & { readonly user: User | null }

export interface TokenLookup {
  /**
   * The token stored under `digest` (see `tokenDigest`), if any. The result may be shared with
   * later calls (it is cached until the next commit): do not modify it.
   */
  find: (digest: string) => TokenRecord | undefined | Promise<TokenRecord | undefined>
  /**
   * PostgreSQL: the token stored under `digest` and, read by the same query through `join`, its
   * user; the lookups waiting together are still one query. Nothing is kept between queries. Absent on
   * SQLite, whose token cache keeps the user the store returned with its token instead (see
   * `TokenServiceDeps.usersInDatabase`).
   */
  findWithUser?: <User>(digest: string, join: UserJoin<User>) => Promise<RecordWithUser<User> | undefined>
  /**
   * Why the token stored under `digest` ended, when `find` found no live one: the reason of its
   * tombstone (`expired`, or how it was revoked), if it ended after `since`. Only a token that is
   * not live costs this second query; nothing is cached.
   */
  findTombstone: (digest: string, since: number) => string | undefined | Promise<string | undefined>
  /** Why the cache is off, when it is off although it was asked for. */
  readonly cacheOffReason: string | undefined
  /**
   * Lookups the cache answered (`hits`) and those it sent to the database (`misses`), since it
   * opened; `undefined` without a cache. Plain counts, read by the metrics when they are scraped.
   */
  readonly cacheCounts?: { hits: number, misses: number } | undefined
  /**
   * Records a use of a token (`lastUsedAt`, its slid expiry, and the client's address unless
   * `null`: the address recorded before is then kept) without making the request wait:
   * the uses of one event-loop turn are written together after it (PostgreSQL: one statement),
   * or those of a 100 ms window (SQLite: one transaction, across which the cache stays valid; see
   * `SqliteTokenLookup`). `onError` hears of a write the database refused; the use is then simply
   * not recorded.
   */
  recordUse: (record: TokenRecord, lastUsedAt: number, expiresAt: number | null, lastUsedIp: string | null, onError: (error: unknown) => void) => void
  /** Writes the uses recorded so far now (before reading them back, as a list of sessions does). */
  flushUses: () => void | Promise<void>
  /** Writes the uses still waiting, then lets go of what the lookup holds. */
  close: () => void | Promise<void>
}

/** The columns of a `TokenRecord`, for both dialects' lookups. */
function lookupSelect (kysely: Kysely<Tables>) {
  return kysely
    .selectFrom('tessera_tokens')
    .select(['id', 'subject', 'created_at as createdAt', 'expires_at as expiresAt', 'last_used_at as lastUsedAt', 'ttl_ms as ttl', 'device', 'scopes'])
}

function lookupQuery (kysely: Kysely<Tables>): CompiledQuery {
  return lookupSelect(kysely)
    .where('digest', '=', Buffer.alloc(32))
    .compile()
}

/** A tombstone's reason by digest and `ended_at` after a bound (see `tessera_token_tombstones`). */
function tombstoneSql (kysely: Kysely<Tables>): string {
  return kysely.selectFrom('tessera_token_tombstones').select('reason')
    .where('digest', '=', Buffer.alloc(32)).where('ended_at', '>', 0)
    .compile().sql
}

type LookupOptions =
  | { dialect: 'sqlite', kysely: Kysely<Tables>, sqlite: SQLite.Database, file: string | undefined, cacheSize: number }
  | { dialect: 'postgres', kysely: Kysely<Tables>, query: NamedQuery }

export function createTokenLookup (options: LookupOptions): TokenLookup {
  const tombstone = tombstoneSql(options.kysely)
  if (options.dialect === 'postgres') return new PostgresTokenLookup(options.query, tombstone)
  const { sql } = lookupQuery(options.kysely)
  return new SqliteTokenLookup(options.sqlite, options.file, { lookup: sql, tombstone }, options.cacheSize)
}

export interface PendingUse {
  record: TokenRecord
  lastUsedAt: number
  expiresAt: number | null
  lastUsedIp: string | null
  onError: (error: unknown) => void
}

/**
 * SQLite writes the uses of this window together (`SqliteTokenLookup.recordUse`): one commit for a
 * window rather than one per turn, with fewer pages written (uses of one window share the table's
 * pages). A use stays in memory this long at most, and a list of sessions writes it first.
 */
const USE_WRITE_WINDOW_MS = 100
/** …or as soon as this many are waiting, so that memory stays bounded under any load. */
const USES_PER_WRITE = 1000

/** `PRAGMA synchronous`'s level for FULL (EXTRA is 3): a commit waits for its fsync. */
const SYNCHRONOUS_FULL = 2

interface WaitingLookup {
  digest: string
  resolve: (record: TokenRecord | undefined) => void
  reject: (error: unknown) => void
}

class SqliteTokenLookup implements TokenLookup {
  readonly #sqlite: SQLite.Database
  readonly #sql: { lookup: string, tombstone: string }
  readonly #cacheSize: number
  readonly #cache = new Map<string, TokenRecord>()
  readonly #waiting: WaitingLookup[] = []
  readonly cacheOffReason: string | undefined
  readonly cacheCounts: { hits: number, misses: number } | undefined
  // Null: the cache is off (size 0, a database whose changes cannot be watched, or closed).
  #signal: ChangeSignal | null
  // Prepared on first use: the table may not exist until the migrations have run.
  #lookup?: SQLite.Statement<[Buffer], TokenRecord>
  #tombstone?: SQLite.Statement<[Buffer, number], string>
  #recordUse?: SQLite.Statement<[number, number | null, string | null, string]>
  readonly #dataVersion: SQLite.Statement<[], number>
  readonly #synchronous: SQLite.Statement<[], number>
  readonly #wal: boolean
  /** Uses waiting to be written, by token id: one write per token per window. */
  readonly #uses = new Map<string, PendingUse>()
  #writeTimer: NodeJS.Timeout | undefined

  constructor (sqlite: SQLite.Database, file: string | undefined, sql: { lookup: string, tombstone: string }, cacheSize: number) {
    this.#sqlite = sqlite
    this.#sql = sql
    this.#cacheSize = cacheSize
    const watched = cacheSize > 0 ? changeSignalFor(sqlite, file) : { signal: null, reason: undefined }
    this.#signal = watched.signal
    this.cacheOffReason = watched.reason
    this.cacheCounts = watched.signal === null ? undefined : { hits: 0, misses: 0 }
    this.#dataVersion = sqlite.prepare<[], number>('PRAGMA data_version').pluck()
    this.#synchronous = sqlite.prepare<[], number>('PRAGMA synchronous').pluck()
    this.#wal = sqlite.pragma('journal_mode', { simple: true }) === 'wal'
  }

  recordUse (record: TokenRecord, lastUsedAt: number, expiresAt: number | null, lastUsedIp: string | null, onError: (error: unknown) => void): void {
    this.#uses.set(record.id, { record, lastUsedAt, expiresAt, lastUsedIp, onError })
    // The cached record shows the use at once, so that the token's next uses in the window are not
    // due again; if the write fails, the cache empties and the record is read back as stored.
    record.lastUsedAt = lastUsedAt
    record.expiresAt = expiresAt
    if (this.#uses.size >= USES_PER_WRITE) this.#writeUses()
    else if (this.#uses.size === 1) this.#writeTimer = setTimeout(this.#writeUses, USE_WRITE_WINDOW_MS).unref()
  }

  /**
   * Writes the uses waiting in one transaction (without an fsync: see `#withoutFsync`), synchronously, and
   * keeps the cache across that commit: this process knows what it wrote, and its cached records
   * already show it (`recordUse`). The cache still empties for every other commit:
   * - commits made before this one (by anyone) are seen first, exactly as a lookup sees them;
   * - `PRAGMA data_version`, read before and after, changes only for other connections' commits,
   *   so one that slipped in around this transaction empties the cache;
   * - the WAL-index header is read again right after the commit, synchronously (no other code of
   *   this process runs in between), so the next lookup does not take this commit for a change.
   * When a transaction of Kysely's is open on the connection, the writes wait for the next turn:
   * they must not join it.
   */
  flushUses (): void {
    this.#writeUses()
  }

  readonly #writeUses = (): void => {
    clearTimeout(this.#writeTimer)
    if (this.#uses.size === 0) return
    if (this.#sqlite.inTransaction) {
      this.#writeTimer = setTimeout(this.#writeUses, 0).unref()
      return
    }
    const uses = [...this.#uses.values()]
    this.#uses.clear()
    const signal = this.#signal
    try {
      if (signal !== null && signal.changed()) this.#cache.clear()
      const before = this.#dataVersion.get()
      const update = this.#recordUse ??= this.#sqlite.prepare<[number, number | null, string | null, string]>(
        'UPDATE tessera_tokens SET last_used_at = ?, expires_at = ?, last_used_ip = coalesce(?, last_used_ip) WHERE id = ?')
      this.#withoutFsync(() => {
        this.#sqlite.transaction(() => {
          for (const use of uses) update.run(use.lastUsedAt, use.expiresAt, use.lastUsedIp, use.record.id)
        })()
      })
      if (signal !== null) {
        signal.changed()
        if (this.#dataVersion.get() !== before) this.#cache.clear()
      }
    } catch (error) {
      // Best effort: the requests were answered; the next uses try again.
      this.#cache.clear()
      for (const use of uses) use.onError(error)
    }
  }

  /**
   * Runs a commit of uses without its fsync (`synchronous=NORMAL` for it alone), then restores the
   * connection's level. Uses are written every window on a busy server, and an fsync each (~1.3 ms
   * of system time here, the event loop blocked meanwhile) would cost more than the writes. Nothing durable is weakened: in WAL mode the commit is still atomic and survives a
   * crash of the process; only a power cut may lose it, and the next commit made at `FULL` (a
   * login, a revocation) syncs the whole WAL, these uses with it.
   */
  #withoutFsync (commit: () => void): void {
    const level = this.#synchronous.get()!
    // Only WAL mode keeps a commit at NORMAL safe from corruption by a power cut.
    if (!this.#wal || level < SYNCHRONOUS_FULL) {
      commit()
      return
    }
    // Not a statement prepared ahead: SQLite applies this pragma already when it compiles it.
    this.#sqlite.pragma('synchronous = NORMAL')
    try {
      commit()
    } finally {
      this.#sqlite.pragma(`synchronous = ${level}`)
    }
  }

  find (digest: string): TokenRecord | undefined | Promise<TokenRecord | undefined> {
    this.#lookup ??= this.#sqlite.prepare<[Buffer], TokenRecord>(this.#sql.lookup)
    if (this.#signal === null) return this.#lookup.get(digestBytes(digest))
    return new Promise((resolve, reject) => {
      if (this.#waiting.push({ digest, resolve, reject }) === 1) setImmediate(this.#answerWaiting)
    })
  }

  findTombstone (digest: string, since: number): string | undefined {
    this.#tombstone ??= this.#sqlite.prepare<[Buffer, number], string>(this.#sql.tombstone).pluck()
    return this.#tombstone.get(digestBytes(digest), since)
  }

  /**
   * Answers every lookup that arrived since the last call, after one look at the change signal.
   * `setImmediate` runs it once the event loop has read all the requests of this turn, so the
   * signal is read after each of them arrived: whatever was committed before a client sent its
   * request is seen, and the look (a system call) is shared by every request of the turn.
   */
  readonly #answerWaiting = (): void => {
    const lookup = this.#lookup!
    const signal = this.#signal
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
        this.cacheCounts!.hits++
        resolve(cached)
        continue
      }
      if (signal !== null) this.cacheCounts!.misses++
      try {
        const found = lookup.get(digestBytes(digest))
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

  close (): void {
    this.#writeUses()
    this.#signal?.close()
    this.#signal = null
  }
}
