/**
 * What tessera does with users and tokens, independent of HTTP: the routes and the CLI both call
 * this. It owns the rules (token limit, expiry, sliding refresh) and emits the events.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Credential } from './lookup.js'
import type { NewUserRow, Tables, UserRow } from '../db/schema.js'
import type { TesseraEmitter, TesseraEventName, TesseraEvents } from '../events.js'
import * as tokens from './repository.js'
import * as users from '../users/builtin/repository.js'
import type { TesseraSettings } from '../settings.js'
import type { Passwords } from '../users/builtin/passwords.js'
import { TOKEN_FORMAT_VERSION, digestToken, type TokenFormat } from './format.js'
import { toIso, toTesseraUser, type TesseraUser } from '../users/builtin/user.js'

/** A token just issued: the only moment its secret exists outside the client. */
export interface IssuedToken {
  token: string
  tokenId: string
  /** ISO-8601 UTC, or null when it never expires. */
  expiry: string | null
}

export interface Session {
  id: string
  device: string
  createdAt: string
  expiry: string | null
  lastUsedAt: string | null
}

/** A login refused because the user holds `limit` live tokens and the policy is `refuse`. */
export class TokenLimitError extends Error {
  constructor (readonly limit: number) {
    super(`token limit reached: a user may hold at most ${limit} live tokens; log out of another device first`)
    this.name = 'TokenLimitError'
  }
}

export interface NewUser {
  username: string
  password: string
  email?: string | null | undefined
}

export interface IssueOptions {
  device: string
  /** Overrides the configured TTL for this token (the CLI's `--ttl`); `null`: never expires. */
  ttl?: number | null
}

const SWEEP_BATCH_SIZE = 1000

export class Accounts {
  readonly #db: Kysely<Tables>
  readonly #settings: TesseraSettings
  readonly #passwords: Passwords
  readonly #format: TokenFormat
  readonly #events: TesseraEmitter
  readonly #log: FastifyBaseLogger

  constructor (deps: {
    db: Kysely<Tables>
    settings: TesseraSettings
    passwords: Passwords
    format: TokenFormat
    events: TesseraEmitter
    log: FastifyBaseLogger
  }) {
    this.#db = deps.db
    this.#settings = deps.settings
    this.#passwords = deps.passwords
    this.#format = deps.format
    this.#events = deps.events
    this.#log = deps.log
  }

  /** Creates a user; returns `undefined` when the username is taken (case-insensitively). */
  async createUser (input: NewUser): Promise<TesseraUser | undefined> {
    const row = await users.insertUser(this.#db, await this.#newUserRow(input))
    if (row === undefined) return undefined
    const user = toTesseraUser(row)
    this.#emit('userCreated', { user })
    return user
  }

  /** Creates a user and their first token in one transaction. */
  async register (input: NewUser, options: IssueOptions): Promise<{ user: TesseraUser } & IssuedToken | undefined> {
    const newUser = await this.#newUserRow(input)
    const now = Date.now()
    const created = await this.#db.transaction().execute(async (trx) => {
      const row = await users.insertUser(trx, newUser)
      if (row === undefined) return undefined
      return { row, ...(await this.#issueIn(trx, row.id, options, now)) }
    })
    if (created === undefined) return undefined
    const user = toTesseraUser(created.row)
    this.#emit('userCreated', { user })
    this.#afterIssue(user, created, options.device)
    return { user, token: created.token, tokenId: created.tokenId, expiry: created.expiry }
  }

  /**
   * The active user with this username and password, or `undefined`. Unknown users, deactivated
   * users and wrong passwords all cost exactly one argon2 verification.
   */
  async verifyPassword (username: string, password: string): Promise<UserRow | undefined> {
    const row = await users.findUserByUsername(this.#db, username)
    const matches = row === undefined
      ? await this.#passwords.verifyNobody(password)
      : await this.#passwords.verify(row.password_hash, password)
    return matches && row !== undefined && row.deactivated_at === null ? row : undefined
  }

  /**
   * Issues a token for the user, honouring the per-user token limit even under concurrent
   * logins: the count and the insert happen in one transaction that holds the user row's lock.
   * @throws {TokenLimitError} when the limit is reached and the policy is `refuse`.
   */
  async issueToken (user: TesseraUser, options: IssueOptions): Promise<IssuedToken> {
    const now = Date.now()
    const issued = await this.#db.transaction().execute((trx) => this.#issueIn(trx, user.id, options, now))
    this.#afterIssue(user, issued, options.device)
    return issued
  }

  async #issueIn (trx: Kysely<Tables>, userId: number, options: IssueOptions, now: number): Promise<IssuedToken & { evicted: string[] }> {
    await users.recordLogin(trx, userId, now)
    let evicted: string[] = []
    const limit = this.#settings.tokenLimitPerUser
    if (limit !== null) {
      const live = await tokens.countLiveTokens(trx, userId, now)
      if (live >= limit) {
        if (this.#settings.tokenLimitPolicy === 'refuse') throw new TokenLimitError(limit)
        evicted = await tokens.deleteLeastRecentlyUsed(trx, userId, live - limit + 1, now)
      }
    }
    const token = this.#format.generate()
    const tokenId = randomUUID()
    const expiresAt = this.#initialExpiry(now, options.ttl === undefined ? this.#settings.tokenTtl : options.ttl)
    await tokens.insertToken(trx, {
      id: tokenId,
      digest: digestToken(token),
      format: TOKEN_FORMAT_VERSION,
      user_id: userId,
      device: options.device,
      created_at: now,
      expires_at: expiresAt,
      last_used_at: null
    })
    return { token, tokenId, expiry: toIso(expiresAt), evicted }
  }

  #afterIssue (user: TesseraUser, issued: { tokenId: string, evicted: string[] }, device: string): void {
    for (const tokenId of issued.evicted) this.#emit('sessionRevoked', { userId: user.id, tokenId, reason: 'evicted' })
    this.#emit('login', { user, tokenId: issued.tokenId, device })
  }

  #initialExpiry (now: number, ttl: number | null): number | null {
    if (ttl === null) return null
    const cap = this.#settings.autoRefresh ? this.#settings.autoRefreshMaxTtl : null
    return now + (cap === null ? ttl : Math.min(ttl, cap))
  }

  /** Whether this use of the token is due to be written (`lastUsedAt`, sliding expiry). */
  isTouchDue (credential: Credential, now: number): boolean {
    return credential.lastUsedAt === null || now - credential.lastUsedAt >= this.#settings.minRefreshInterval
  }

  /**
   * Writes `lastUsedAt` and, with auto-refresh, slides the expiry (never past the max TTL).
   * Best effort: if the database cannot take the write (locked by a long purge, say), the request
   * still succeeds on the token's current expiry, and the next use tries again.
   */
  async touch (credential: Credential, now: number): Promise<void> {
    const { autoRefresh, tokenTtl, autoRefreshMaxTtl } = this.#settings
    let expiresAt = credential.expiresAt
    if (autoRefresh && tokenTtl !== null && expiresAt !== null) {
      const slid = now + tokenTtl
      expiresAt = autoRefreshMaxTtl === null ? slid : Math.min(slid, credential.tokenCreatedAt + autoRefreshMaxTtl)
    }
    try {
      await tokens.touchToken(this.#db, credential.tokenId, now, expiresAt)
    } catch (error) {
      this.#log.warn({ err: error, tokenId: credential.tokenId }, 'could not record a token use')
    }
  }

  /** Deletes a token that was presented after its expiry. */
  async expire (credential: Credential): Promise<void> {
    if (await tokens.deleteToken(this.#db, credential.tokenId)) {
      this.#emit('tokenExpired', { userId: credential.user.id, tokenId: credential.tokenId })
    }
  }

  async logout (userId: number, tokenId: string): Promise<void> {
    if (await tokens.deleteToken(this.#db, tokenId, userId)) this.#emit('logout', { userId, tokenId })
  }

  async logoutAll (userId: number): Promise<number> {
    const revoked = await tokens.deleteUserTokens(this.#db, userId)
    this.#emit('logoutAll', { userId, revoked })
    return revoked
  }

  async logoutOthers (userId: number, keptTokenId: string): Promise<number> {
    const revoked = await tokens.deleteUserTokens(this.#db, userId, keptTokenId)
    this.#emit('logoutOthers', { userId, keptTokenId, revoked })
    return revoked
  }

  /** Revokes one session by id; with `userId`, only if it is that user's. Returns whether it existed. */
  async revokeSession (tokenId: string, userId?: number): Promise<boolean> {
    const revoked = await tokens.deleteToken(this.#db, tokenId, userId)
    if (revoked) this.#emit('sessionRevoked', { userId: userId ?? null, tokenId, reason: 'revoked' })
    return revoked
  }

  /** The user's live sessions, newest first. */
  async listSessions (userId: number): Promise<Session[]> {
    const rows = await tokens.listLiveTokens(this.#db, userId, Date.now())
    return rows.map((row) => ({
      id: row.id,
      device: row.device,
      createdAt: new Date(row.created_at).toISOString(),
      expiry: toIso(row.expires_at),
      lastUsedAt: toIso(row.last_used_at)
    }))
  }

  /**
   * Changes the password if `currentPassword` is right, and revokes every other token of the
   * user in the same transaction. Returns false for a wrong current password.
   */
  async changePassword (userId: number, currentPassword: string, newPassword: string, keptTokenId: string): Promise<boolean> {
    const row = await users.findUserById(this.#db, userId)
    if (row === undefined || !(await this.#passwords.verify(row.password_hash, currentPassword))) return false
    const passwordHash = await this.#passwords.hash(newPassword)
    const revoked = await this.#db.transaction().execute(async (trx) => {
      await users.updatePasswordHash(trx, userId, passwordHash)
      return await tokens.deleteUserTokens(trx, userId, keptTokenId)
    })
    this.#emit('passwordChanged', { userId, revoked })
    return true
  }

  /**
   * Deletes every expired token, in batches of `batchSize`, and returns how many.
   * `onBatch` is told the running total after each batch (the CLI shows progress with it).
   */
  async sweepExpired (options: { batchSize?: number, onBatch?: (deleted: number) => void } = {}): Promise<number> {
    const batchSize = options.batchSize ?? SWEEP_BATCH_SIZE
    const now = Date.now()
    let total = 0
    for (;;) {
      const deleted = await tokens.deleteExpiredBatch(this.#db, now, batchSize)
      total += deleted
      if (deleted > 0) options.onBatch?.(total)
      if (deleted < batchSize) return total
    }
  }

  async #newUserRow (input: NewUser): Promise<NewUserRow> {
    return {
      username: input.username,
      username_key: users.usernameKey(input.username),
      email: input.email ?? null,
      password_hash: await this.#passwords.hash(input.password),
      created_at: Date.now(),
      deactivated_at: null,
      last_login_at: null
    }
  }

  #emit<E extends TesseraEventName>(event: E, ...payload: TesseraEvents[E]): void {
    try {
      // The cast is the emitter's own generic contract, which TypeScript cannot follow through `E`.
      (this.#events.emit as (event: E, ...args: TesseraEvents[E]) => boolean)(event, ...payload)
    } catch (error) {
      this.#log.error({ err: error, event }, 'a tessera event listener threw')
    }
  }
}
