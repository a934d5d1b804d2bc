/**
 * The token service: issue, verify, revoke one, revoke all of a subject, list a subject's
 * sessions, rename one, sweep. It knows subjects (opaque string ids) and asks the user store for
 * the user behind one; it never reads a user row itself. The routes, the CLI and an embedding
 * application (`app.tessera.tokens`) all go through it; it owns the rules (token limit, expiry, sliding
 * refresh) and emits the events.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { ActivityDetails, ActivityLog, ActivityType } from '../activity/log.js'
import type { Database } from '../db/database.js'
import type { AppUser } from '../index.js'
import type { Tables, TokenRow } from '../db/schema.js'
import { normalizeAddress } from '../http/client-address.js'
import { sessionUserAgent } from '../http/device.js'
import { deviceProblem } from '../http/schemas.js'
import { emitSafely, type TesseraEmitter, type TesseraEventName, type TesseraEvents } from '../events.js'
import type { MetricsSink } from '../metrics/sink.js'
import type { TesseraSettings } from '../settings.js'
import { toIso, type Clock } from '../time.js'
import type { UserStore } from '../users/store.js'
import { AuthenticationError, isRevocationReason, type RevocationReason } from './failures.js'
import { TOKEN_FORMAT_VERSION, digestBytes, tokenDigest, type TokenFormat } from './format.js'
import type { RecordWithUser, TokenRecord, UserJoin } from './lookup.js'
import * as tokens from './repository.js'
import type { EndReason, Ending } from './repository.js'
import { normalizeScopes, scopesOf, scopesProblem } from './scopes.js'

/** A token just issued: the only moment its secret exists outside the client. */
export interface IssuedToken {
  token: string
  tokenId: string
  /** ISO-8601 UTC, or null when it never expires. */
  expiry: string | null
  /** What it may do, sorted (`['*']`: everything). */
  scopes: string[]
}

/** The token a request was authenticated with (never its secret): `request.authToken`. */
export interface AuthToken {
  id: string
  subject: string
  createdAt: number
  /** Its expiry as this use left it (slid, with auto-refresh); `null`: never. */
  expiresAt: number | null
  /** Its last recorded use: this one, when this use was recorded; `null`: never recorded. */
  lastUsedAt: number | null
  device: string
  /** What it may do, sorted (`['*']`: everything); see `app.requireScopes`. */
  scopes: string[]
}

/** A live token as its owner sees it in a list of sessions. */
export interface Session {
  id: string
  device: string
  createdAt: string
  expiry: string | null
  lastUsedAt: string | null
  scopes: string[]
  /** The client address it was issued to; `null`: unknown (the CLI, or a token older than this record). */
  createdIp: string | null
  /** The client address of its last recorded use; `null`: unknown, or never used. */
  lastUsedIp: string | null
  /** The User-Agent it was issued to (at most 512 characters); `null`: unknown. */
  userAgent: string | null
}

/** A login refused because the subject holds `limit` live tokens and the policy is `refuse`. */
export class TokenLimitError extends Error {
  readonly statusCode = 403
  readonly code = 'TOKEN_LIMIT_REACHED'
  constructor (readonly limit: number) {
    super(`token limit reached: a user may hold at most ${limit} live tokens; log out of another device first`)
    this.name = 'TokenLimitError'
  }
}

/**
 * A transaction of the application's own Kysely instance (whatever its tables), so that tessera's
 * writes commit or roll back with the application's: e.g. a user and their first token.
 */
export type Transaction = Kysely<any>

/**
 * Where a change comes from, as the activity log records it, and a new session too (shown in the
 * list of sessions): the client's address (the one the rate limits see, e.g. `request.ip`) and
 * User-Agent. Absent for changes made from the command line. A session records an address only
 * if it is an IP address, and at most 512 characters of the User-Agent.
 */
export interface ClientContext {
  address?: string | undefined
  userAgent?: string | undefined
}

export interface IssueOptions extends ClientContext {
  /** A label for the session, shown in lists of sessions. */
  device: string
  /**
   * How the activity log names this issue: `login` (the default: a person signing in on a
   * device) or `token_created` (a personal access token, a token made with the CLI).
   */
  recordAs?: 'login' | 'token_created'
  /** Overrides the configured TTL for this token, in ms; `null`: never expires. */
  ttl?: number | null
  /** What it may do (default: the configured default scopes, `*` unless set). */
  scopes?: readonly string[]
  /** Write inside this transaction (the caller commits); events then fire before that commit. */
  transaction?: Transaction
}

export interface WriteOptions extends ClientContext {
  transaction?: Transaction
}

/** How a revocation is remembered: the `reason` a client presenting the token is told. */
export interface RevokeOptions extends WriteOptions {
  reason?: RevocationReason
}

/** About the use of a token being verified. */
export interface UseOptions {
  /** The client's address (e.g. `request.ip`), recorded as the session's `lastUsedIp` with `lastUsedAt`. */
  address?: string | undefined
}

const SWEEP_BATCH_SIZE = 1000

export interface TokenServiceDeps<User> {
  database: Database
  settings: TesseraSettings
  users: UserStore<User>
  format: TokenFormat
  events: TesseraEmitter
  log: FastifyBaseLogger
  /** Where the changes made here are recorded for the subject to read back. */
  activity: ActivityLog
  /** Where a failed background write is reported, when metrics are on. */
  metrics?: MetricsSink | undefined
  /** What "now" is for issuing, expiry, sliding, tombstones and sweeps (default `Date.now`; the plugin's `clock` option). */
  clock?: Clock | undefined
  /**
   * Whether the user found for a cached token may be kept with it. True only for a store whose
   * users live in tessera's own database (the built-in one): the token cache empties on every
   * commit to that database, and so would the user. An application's store is asked every time.
   */
  usersInDatabase?: boolean
  /**
   * How the token lookup may read a token's user in its own query, where the database can (on
   * PostgreSQL): given only by a store whose users live in tessera's database (the built-in one),
   * which then is not asked per request. An application's store is asked every time.
   */
  userJoin?: UserJoin<User> | undefined
}

/** A token as found: with its user when the lookup read it too (`null`: no active user), else without. */
type FoundToken<User> = TokenRecord & { readonly user?: User | null }

export class TokenService<User> {
  readonly #database: Database
  readonly #db: Kysely<Tables>
  readonly #settings: TesseraSettings
  readonly #users: UserStore<User>
  readonly #format: TokenFormat
  readonly #events: TesseraEmitter
  readonly #log: FastifyBaseLogger
  readonly #activity: ActivityLog
  readonly #metrics: MetricsSink | undefined
  readonly #clock: Clock
  /** Users found for cached token records; they go when the record leaves the cache. */
  readonly #usersOfRecords: WeakMap<TokenRecord, User> | undefined
  /** The token lookup of `resolve`: with the user in the same query where there is a join to make. */
  readonly #findToken: (digest: string) => FoundToken<User> | undefined | Promise<FoundToken<User> | undefined>
  readonly #logoutStatements: tokens.LogoutStatements

  constructor (deps: TokenServiceDeps<User>) {
    this.#database = deps.database
    this.#db = deps.database.kysely
    this.#logoutStatements = tokens.logoutStatements(deps.database.kysely)
    this.#settings = deps.settings
    this.#users = deps.users
    this.#format = deps.format
    this.#events = deps.events
    this.#log = deps.log
    this.#activity = deps.activity
    this.#metrics = deps.metrics
    this.#clock = deps.clock ?? Date.now
    this.#usersOfRecords = deps.usersInDatabase === true ? new WeakMap() : undefined
    const lookup = deps.database.tokenLookup
    const join = deps.userJoin
    const findWithUser = lookup.findWithUser?.bind(lookup)
    this.#findToken = join !== undefined && findWithUser !== undefined
      ? async (digest): Promise<RecordWithUser<User> | undefined> => await findWithUser(digest, join)
      : (digest) => lookup.find(digest)
  }

  /**
   * Issues a token for a user, honouring the per-user token limit even under concurrent logins:
   * the count and the insert happen in one transaction that holds the subject's lock.
   *
   * ```ts
   * const { token, tokenId, expiry } = await app.tessera.tokens.issue(user, { device: 'iPhone 15' })
   * ```
   * @throws {TokenLimitError} when the limit is reached and the policy is `refuse`.
   */
  async issue (user: User, options: IssueOptions): Promise<IssuedToken> {
    const { issued, announce } = options.transaction === undefined
      ? await this.#database.transact(async (trx) => await this.issueWithin(trx, user, options))
      : await this.issueWithin(options.transaction, user, options)
    announce()
    return issued
  }

  /**
   * Issues a token inside the caller's transaction and returns, with it, the announcement of its
   * events, for the caller to make once that transaction has committed (tessera's own flows that
   * write more than a token: registration, login).
   */
  async issueWithin (trx: Transaction, user: User, options: IssueOptions): Promise<{ issued: IssuedToken, announce: () => void }> {
    const subject = this.#users.idOf(user)
    if (typeof subject !== 'string' || subject === '') throw new TypeError('users.idOf(user) must return a non-empty string')
    const { evicted, ...issued } = await this.#issueIn(trx as Kysely<Tables>, subject, options, this.#clock())
    const announce = (): void => {
      for (const tokenId of evicted) this.#emit('sessionRevoked', { subject, tokenId, reason: 'evicted' })
      this.#emit('login', { user: user as AppUser, subject, tokenId: issued.tokenId, device: options.device })
    }
    return { issued, announce }
  }

  async #issueIn (trx: Kysely<Tables>, subject: string, options: IssueOptions, now: number): Promise<IssuedToken & { evicted: string[] }> {
    let evicted: string[] = []
    const limit = this.#settings.tokenLimitPerUser
    if (limit !== null) {
      await tokens.lockSubject(trx, subject, this.#ending('expired', now), this.#database.dialect === 'postgres')
      const live = await tokens.countLiveTokens(trx, subject, now)
      if (live >= limit) {
        if (this.#settings.tokenLimitPolicy === 'refuse') throw new TokenLimitError(limit)
        evicted = await tokens.deleteLeastRecentlyUsed(trx, subject, live - limit + 1, this.#ending('evicted', now))
        await this.#activity.recordMany(trx, subject, evicted.map((tokenId) => ({ type: 'session_evicted', tokenId })), now)
      }
    }
    const token = this.#format.generate()
    const tokenId = randomUUID()
    const ttl = options.ttl === undefined ? this.#settings.tokenTtl : options.ttl
    const expiresAt = this.#initialExpiry(now, ttl)
    const scopes = normalizeScopes(options.scopes ?? this.#settings.defaultScopes)
    const problem = scopesProblem(scopes)
    if (problem !== undefined) throw new TypeError(`scopes: ${problem}`)
    await tokens.insertToken(trx, {
      id: tokenId,
      digest: digestBytes(tokenDigest(token)),
      format: TOKEN_FORMAT_VERSION,
      subject,
      device: options.device,
      created_at: now,
      expires_at: expiresAt,
      last_used_at: null,
      ttl_ms: expiresAt === null ? null : ttl,
      scopes: scopes.join(' '),
      created_ip: addressOf(options.address),
      last_used_ip: null,
      user_agent: sessionUserAgent(options.userAgent)
    })
    await this.#activity.record(trx, subject, options.recordAs ?? 'login', {
      tokenId, device: options.device, ip: options.address, userAgent: options.userAgent
    }, now)
    return { token, tokenId, expiry: toIso(expiresAt), scopes, evicted }
  }

  /** Now + the TTL, never past the sliding cap (which also bounds a token asked never to expire). */
  #initialExpiry (now: number, ttl: number | null): number | null {
    const cap = this.#settings.autoRefresh ? this.#settings.autoRefreshMaxTtl : null
    if (ttl === null) return cap === null ? null : now + cap
    return now + (cap === null ? ttl : Math.min(ttl, cap))
  }

  /**
   * The user and token behind a raw token, or `null` for anything that is not a live token of a
   * user the store still returns. For transports other than HTTP requests (websockets, queues).
   * A use like a request's: it records `lastUsedAt` (and `options.address` as `lastUsedIp`) and
   * slides the expiry.
   */
  async verify (rawToken: string, options: UseOptions = {}): Promise<{ user: User, token: AuthToken } | null> {
    try {
      return await this.resolve(rawToken, options)
    } catch (error) {
      if (error instanceof AuthenticationError) return null
      throw error
    }
  }

  /**
   * The request path after the header: prefix and checksum → SHA-256 digest → one indexed lookup
   * → expiry → the user store → `lastUsedAt` and `lastUsedIp` (at most once per `minRefreshInterval`).
   * The user comes with the token when the lookup read it in the same query (PostgreSQL, built-in
   * users: `userJoin`), else from the user store (or kept with a cached token: `usersInDatabase`).
   * Only a token that is not live costs a second lookup: its tombstone, which says how it ended.
   * @throws {AuthenticationError} saying why the token is refused.
   */
  async resolve (rawToken: string, options: UseOptions = {}): Promise<{ user: User, token: AuthToken }> {
    if (!this.#format.isWellFormed(rawToken)) throw new AuthenticationError('malformed')

    const digest = tokenDigest(rawToken)
    const record = await this.#findToken(digest)
    if (record === undefined) throw await this.#whyNotLive(digest)

    const now = this.#clock()
    if (record.expiresAt !== null && record.expiresAt <= now) {
      await this.#expire(record)
      throw new AuthenticationError('expired')
    }
    const user = record.user === undefined ? this.#keptUser(record) ?? await this.#findUser(record) : record.user
    if (user === null) throw new AuthenticationError('inactive')
    const touched = this.#isTouchDue(record, now)
    const expiresAt = touched ? this.#touch(record, now, options.address) : record.expiresAt
    return {
      user,
      token: {
        id: record.id,
        subject: record.subject,
        createdAt: record.createdAt,
        expiresAt,
        lastUsedAt: touched ? now : record.lastUsedAt,
        device: record.device,
        scopes: scopesOf(record.scopes)
      }
    }
  }

  /** The refusal of a token that is not live: revoked or expired (within the memory), else unknown. */
  async #whyNotLive (digest: string): Promise<AuthenticationError> {
    const reason = await this.#database.tokenLookup.findTombstone(digest, this.#clock() - this.#settings.revocationMemory)
    if (reason === 'expired') return new AuthenticationError('expired')
    return isRevocationReason(reason) ? new AuthenticationError('revoked', reason) : new AuthenticationError('unknown')
  }

  /** A copy of the user kept with a cached token: a handler may add to its request's user, which must not reach the next request. */
  #keptUser (record: TokenRecord): User | undefined {
    const known = this.#usersOfRecords?.get(record)
    return known === undefined ? undefined : { ...known }
  }

  async #findUser (record: TokenRecord): Promise<User> {
    const user = await this.#users.find(record.subject)
    if (user === null || user === undefined) throw new AuthenticationError('inactive')
    this.#usersOfRecords?.set(record, user)
    return user
  }

  /** Whether this use of the token is due to be written (`lastUsedAt`, sliding expiry). */
  #isTouchDue (record: TokenRecord, now: number): boolean {
    return record.lastUsedAt === null || now - record.lastUsedAt >= this.#settings.minRefreshInterval
  }

  /**
   * Writes `lastUsedAt` (and the address, when known) and, with auto-refresh, slides the expiry by
   * the token's own lifetime (never past the max TTL); returns that expiry.
   * Best effort: if the database cannot take the write (locked by a long purge, say), the request
   * still succeeds on the token's current expiry, and the next use tries again.
   */
  #touch (record: TokenRecord, now: number, address: string | undefined): number | null {
    const { autoRefresh, tokenTtl, autoRefreshMaxTtl } = this.#settings
    const ttl = record.ttl ?? tokenTtl
    let expiresAt = record.expiresAt
    if (autoRefresh && ttl !== null && expiresAt !== null) {
      const slid = now + ttl
      expiresAt = autoRefreshMaxTtl === null ? slid : Math.min(slid, record.createdAt + autoRefreshMaxTtl)
    }
    const couldNot = (error: unknown): void => {
      this.#log.warn({ err: error, tokenId: record.id }, 'could not record a token use')
      this.#metrics?.databaseError(error)
    }
    // Written with the other uses of this turn, after the request is answered.
    this.#database.tokenLookup.recordUse(record, now, expiresAt, addressOf(address), couldNot)
    return expiresAt
  }

  /** Deletes a token that was presented after its expiry (leaving its `expired` tombstone). */
  async #expire (record: TokenRecord): Promise<void> {
    const ending = this.#ending('expired')
    if (await this.#database.transact(async (trx) => await tokens.deleteToken(trx, record.id, ending)) !== undefined) {
      this.#emit('tokenExpired', { subject: record.subject, tokenId: record.id })
    }
  }

  /** Revokes the token a request was made with (`POST /auth/logout`). */
  async logout (token: AuthToken, client: ClientContext = {}): Promise<void> {
    const ending = this.#ending('logout')
    const revoked = await this.#database.transact(async (trx) => {
      const deleted = await tokens.deleteOwnToken(trx, this.#logoutStatements, token.id, token.subject, ending)
      if (deleted) await this.#record(trx, token.subject, 'logout', client, { tokenId: token.id, device: token.device })
      return deleted
    })
    if (revoked) this.#emit('logout', { subject: token.subject, tokenId: token.id })
  }

  /**
   * Revokes one token by id; with `subject`, only if it is that subject's. Returns whether one
   * was revoked. Presented again, the token is told `TOKEN_REVOKED` with `reason` (default
   * `revoked`).
   */
  async revoke (tokenId: string, options: RevokeOptions & { subject?: string } = {}): Promise<boolean> {
    const reason = options.reason ?? 'revoked'
    const ending = this.#ending(reason)
    const subject = await this.#write(options, async (trx) => {
      const owner = await tokens.deleteToken(trx, tokenId, ending, options.subject)
      if (owner !== undefined) await this.#record(trx, owner, 'session_revoked', options, { tokenId })
      return owner
    })
    if (subject !== undefined) this.#emit('sessionRevoked', { subject, tokenId, reason })
    return subject !== undefined
  }

  /**
   * Revokes every token of a subject (all but `except`, when given) and returns how many: e.g.
   * when the application disables a user,
   * `await app.tessera.tokens.revokeAll(String(user.id), { reason: 'user_deactivated' })`.
   * The reason its tokens are told defaults to `logout_all` (`logout_others` with `except`).
   */
  async revokeAll (subject: string, options: RevokeOptions & { except?: string } = {}): Promise<number> {
    const ending = this.#ending(options.reason ?? (options.except === undefined ? 'logout_all' : 'logout_others'))
    const revoked = await this.#write(options, async (trx) => {
      const count = await tokens.deleteSubjectTokens(trx, subject, ending, options.except)
      await this.#record(trx, subject, options.except === undefined ? 'logout_all' : 'logout_others', options,
        { tokenId: options.except ?? null })
      return count
    })
    if (options.except === undefined) this.#emit('logoutAll', { subject, revoked })
    else this.#emit('logoutOthers', { subject, keptTokenId: options.except, revoked })
    return revoked
  }

  /**
   * Deletes every token of a subject but `except`, inside the caller's transaction, without an
   * event (a password change, a deactivation); their tombstones say `reason`.
   */
  async deleteAllWithin (trx: Transaction, subject: string, options: { reason: RevocationReason, except?: string | undefined }): Promise<number> {
    return await tokens.deleteSubjectTokens(trx as Kysely<Tables>, subject, this.#ending(options.reason), options.except)
  }

  /** The subject's live sessions, newest first. */
  async list (subject: string): Promise<Session[]> {
    // The uses of this turn (the listing request's own among them) are shown as made.
    await this.#database.tokenLookup.flushUses()
    const rows = await tokens.listLiveTokens(this.#db, subject, this.#clock())
    return rows.map(sessionOf)
  }

  /**
   * Gives a live session a new device label and returns it; with `subject`, only if it is that
   * subject's. `undefined` when there is no such live session. Recorded in the activity log as
   * `session_renamed`, with the client of `options`.
   *
   * ```ts
   * await app.tessera.tokens.rename(tokenId, 'Work phone', { subject: String(user.id) })
   * ```
   * @throws {TypeError} for a label that is not 1 to 128 printable characters.
   */
  async rename (tokenId: string, device: string, options: WriteOptions & { subject?: string } = {}): Promise<Session | undefined> {
    const problem = deviceProblem(device)
    if (problem !== undefined) throw new TypeError(`device: ${problem}`)
    // The uses of this turn are written first, so that the session comes back as they left it.
    await this.#database.tokenLookup.flushUses()
    const row = await this.#write(options, async (trx) => {
      const renamed = await tokens.renameToken(trx, tokenId, device, { subject: options.subject, now: this.#clock() })
      if (renamed !== undefined) await this.#record(trx, renamed.subject, 'session_renamed', options, { tokenId, device })
      return renamed
    })
    if (row === undefined) return undefined
    this.#emit('sessionRenamed', { subject: row.subject, tokenId, device })
    return sessionOf(row)
  }

  /**
   * Deletes every expired token, in batches of `batchSize`, and returns how many; each leaves an
   * `expired` tombstone, so that it is still told `TOKEN_EXPIRED` when presented. Then forgets
   * the tombstones older than the revocation memory, in batches too, and the activity log's
   * entries older than `activityRetention`.
   * `onBatch` is told the running total of tokens after each batch (the CLI shows progress with it).
   */
  async sweep (options: { batchSize?: number, onBatch?: (deleted: number) => void } = {}): Promise<number> {
    const batchSize = options.batchSize ?? SWEEP_BATCH_SIZE
    const ending = this.#ending('expired')
    let total = 0
    for (;;) {
      const deleted = await this.#database.transact(async (trx) => await tokens.deleteExpiredBatch(trx, ending, batchSize))
      total += deleted
      if (deleted > 0) options.onBatch?.(total)
      if (deleted < batchSize) break
    }
    let forgotten: number
    do forgotten = await tokens.deleteTombstonesBatch(this.#db, ending.now - ending.memoryMs, batchSize)
    while (forgotten === batchSize)
    await this.#activity.sweep(ending.now - this.#settings.activityRetention)
    return total
  }

  /** Runs a write in the caller's transaction, or else in one of its own (committed with this turn's others). */
  async #write<T> (options: WriteOptions, write: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
    if (options.transaction !== undefined) return await write(options.transaction as Kysely<Tables>)
    return await this.#database.transact(write)
  }

  /** The tombstones of a write made `now` for `reason`. */
  #ending (reason: EndReason, now = this.#clock()): Ending {
    return { reason, now, memoryMs: this.#settings.revocationMemory }
  }

  async #record (trx: Kysely<Tables>, subject: string, type: ActivityType, client: ClientContext, details: ActivityDetails): Promise<void> {
    await this.#activity.record(trx, subject, type, { ...details, ip: client.address, userAgent: client.userAgent })
  }

  #emit<E extends TesseraEventName>(event: E, ...payload: TesseraEvents[E]): void {
    emitSafely(this.#events, this.#log, event, ...payload)
  }
}

/** A client address as a session records it; `null` when unknown or not an IP address. */
function addressOf (address: string | undefined): string | null {
  return address === undefined ? null : normalizeAddress(address)
}

function sessionOf (row: TokenRow): Session {
  return {
    id: row.id,
    device: row.device,
    createdAt: new Date(row.created_at).toISOString(),
    expiry: toIso(row.expires_at),
    lastUsedAt: toIso(row.last_used_at),
    scopes: scopesOf(row.scopes),
    createdIp: row.created_ip,
    lastUsedIp: row.last_used_ip,
    userAgent: row.user_agent
  }
}
