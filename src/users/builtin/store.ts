/**
 * tessera's built-in users: username + argon2id password, registration, password change,
 * deactivation. It is the default user store, plugged into the token service through the same
 * `UserStore` interface an application uses, and it adds what only it can do: the accounts
 * operations the routes of `routes.ts` and the CLI call.
 */
import type { FastifyBaseLogger } from 'fastify'
import { CompiledQuery, type Kysely } from 'kysely'
import type { ActivityLog } from '../../activity/log.js'
import type { Database } from '../../db/database.js'
import type { Transact } from '../../db/group-commit.js'
import type { NewUserRow, Tables, UserRow } from '../../db/schema.js'
import { emitSafely, type TesseraEmitter } from '../../events.js'
import type { Clock } from '../../time.js'
import type { UserJoin } from '../../tokens/lookup.js'
import type { ClientContext, IssueOptions, IssuedToken, TokenService } from '../../tokens/service.js'
import { AuthenticationError } from '../../tokens/failures.js'
import type { UserStore } from '../store.js'
import type { Passwords } from './passwords.js'
import * as users from './repository.js'
import { toTesseraUser, type TesseraUser } from './user.js'

/** A login whose password was changed while it was being verified. */
export class CredentialsChangedError extends Error {
  constructor () {
    super('the credentials changed while the login was being checked')
    this.name = 'CredentialsChangedError'
  }
}

export interface NewUser {
  username: string
  password: string
  email?: string | null | undefined
}

/**
 * PostgreSQL: the user of each token, read by the token lookup's own query (one round trip per
 * turn). It finds exactly whom `find` would: an active user whose id is the subject. Only a subject
 * that is a user id is cast (the `CASE` runs the test first), so that any other subject — an
 * application's, a row written by hand — finds no user instead of failing the query, and with it
 * every request of its turn; an id past the `integer` range finds no one either. Both sides are
 * index lookups: the tokens by digest, then each user by primary key (EXPLAIN with 20 000 users;
 * a table of a few pages, like the benchmark's 100 users, is read whole once per query instead,
 * which the planner rightly finds cheaper).
 */
const TOKEN_USER_JOIN: UserJoin<TesseraUser> = {
  name: 'builtin_user',
  join: `LEFT JOIN tessera_users AS u
    ON u.id = CASE WHEN t.subject ~ '^[1-9][0-9]{0,9}$' THEN t.subject::bigint END AND u.deactivated_at IS NULL`,
  columns: ['u.id', 'u.username', 'u.email', 'u.created_at'],
  toUser: (row, at) => toTesseraUser({
    id: row[at] as number, username: row[at + 1] as string, email: row[at + 2] as string | null, created_at: row[at + 3] as number
  })
}

/** The columns `find` reads, in one statement compiled once (it runs when a token's user is not cached). */
interface FoundRow {
  id: number
  username: string
  email: string | null
  created_at: number
}

export class BuiltinUsers implements UserStore<TesseraUser> {
  readonly #db: Kysely<Tables>
  readonly #transact: Transact
  readonly #activity: ActivityLog
  readonly #passwords: Passwords
  readonly #events: TesseraEmitter
  readonly #log: FastifyBaseLogger
  /** When users are created, log in and are deactivated. */
  readonly #clock: Clock
  readonly #findQuery: string
  /** The hash each user returned by `verifyCredentials` was verified against, for `logIn` to check again. */
  readonly #verifiedHashes = new WeakMap<TesseraUser, string>()
  /**
   * How the token lookup reads a token's user with the token on PostgreSQL (see `UserJoin`): the
   * token service hands it to the lookup instead of calling `find` per request.
   */
  readonly tokenJoin: UserJoin<TesseraUser> = TOKEN_USER_JOIN
  /** Set once the token service exists: the two need each other. */
  #tokens?: TokenService<TesseraUser>

  constructor (deps: { database: Database, passwords: Passwords, events: TesseraEmitter, log: FastifyBaseLogger, activity: ActivityLog, clock?: Clock | undefined }) {
    this.#db = deps.database.kysely
    this.#clock = deps.clock ?? Date.now
    this.#activity = deps.activity
    this.#transact = deps.database.transact
    this.#passwords = deps.passwords
    this.#events = deps.events
    this.#log = deps.log
    this.#findQuery = this.#db
      .selectFrom('tessera_users')
      .select(['id', 'username', 'email', 'created_at'])
      .where('id', '=', 0)
      .where('deactivated_at', 'is', null)
      .compile().sql
  }

  /** Computes the dummy hash now, so that the first unknown-user login costs no more than later ones. */
  async warmUp (): Promise<void> {
    await this.#passwords.warmUp()
  }

  useTokens (tokens: TokenService<TesseraUser>): void {
    this.#tokens = tokens
  }

  get #tokenService (): TokenService<TesseraUser> {
    if (this.#tokens === undefined) throw new Error('BuiltinUsers: useTokens() was not called')
    return this.#tokens
  }

  /**
   * The active user with this id; deactivated and unknown users are `null`. The token service
   * rarely asks: on SQLite it keeps the user with its cached token (the cache empties on every
   * commit), so this runs on a cache miss only; on PostgreSQL the token lookup reads the user with
   * the token (`tokenJoin`).
   */
  async find (id: string): Promise<TesseraUser | null> {
    if (!/^[1-9]\d{0,9}$/.test(id) || Number(id) > 2_147_483_647) return null
    const { rows } = await this.#db.executeQuery<FoundRow>(CompiledQuery.raw(this.#findQuery, [Number(id)]))
    return rows[0] === undefined ? null : toTesseraUser(rows[0])
  }

  idOf (user: TesseraUser): string {
    return String(user.id)
  }

  serialize (user: TesseraUser): TesseraUser {
    return user
  }

  /**
   * The active user with this username and password, or `null`. Unknown users, deactivated users
   * and wrong passwords all cost exactly one argon2 verification.
   * @throws {AuthenticationError} `inactive` for the right password of a deactivated user (only
   *   the right password tells that the account is deactivated).
   */
  async verifyCredentials (username: string, password: string, client: ClientContext = {}): Promise<TesseraUser | null> {
    const row = await users.findUserByUsername(this.#db, username)
    const matches = row === undefined
      ? await this.#passwords.verifyNobody(password)
      : await this.#passwords.verify(row.password_hash, password)
    if (!matches && row !== undefined) this.#recordFailedLogin(row.id, client)
    if (!matches || row === undefined) return null
    if (row.deactivated_at !== null) throw new AuthenticationError('inactive')
    const user = toTesseraUser(row)
    this.#verifiedHashes.set(user, row.password_hash)
    return user
  }

  /**
   * Issues a login's token and records the login, in one transaction. Inside it, the user's row
   * is locked (the login's write comes first) and checked again: if the password the login was
   * verified against has been changed, or the user deactivated, since — by a change that committed
   * while the password was being verified — the login is refused. A change that commits after
   * this transaction revokes the token it issued. Either way, once a password change or a
   * deactivation has answered, no token issued on the strength of the old password is alive.
   * @throws {CredentialsChangedError} when the password changed under the login.
   * @throws {AuthenticationError} `inactive` when the user was deactivated under it.
   */
  async logIn (user: TesseraUser, options: IssueOptions): Promise<IssuedToken> {
    const verifiedHash = this.#verifiedHashes.get(user)
    const { issued, announce } = await this.#transact(async (trx) => {
      await users.recordLogin(trx, user.id, this.#clock())
      const row = await users.findUserById(trx, user.id)
      if (row !== undefined && row.deactivated_at !== null) throw new AuthenticationError('inactive')
      if (row === undefined || (verifiedHash !== undefined && row.password_hash !== verifiedHash)) throw new CredentialsChangedError()
      return await this.#tokenService.issueWithin(trx, user, options)
    })
    announce()
    return issued
  }

  /**
   * Records a wrong password in the user's activity log (the address and the time only). The
   * refusal does not wait for the write: an unknown username, which has no log, must be answered
   * as fast as a known one.
   */
  #recordFailedLogin (id: number, client: ClientContext): void {
    this.#transact(async (trx) => await this.#activity.record(trx, String(id), 'login_failed', { ip: client.address }))
      .catch((error: unknown) => this.#log.warn({ err: error }, 'could not record a failed login'))
  }

  /** Creates a user; returns `undefined` when the username is taken (case-insensitively). */
  async create (input: NewUser): Promise<TesseraUser | undefined> {
    const row = await users.insertUser(this.#db, await this.#newUserRow(input))
    if (row === undefined) return undefined
    const user = toTesseraUser(row)
    emitSafely(this.#events, this.#log, 'userCreated', { user })
    return user
  }

  /** Creates a user and their first token in one transaction; `undefined` when the username is taken. */
  async register (input: NewUser, options: IssueOptions): Promise<({ user: TesseraUser } & IssuedToken) | undefined> {
    const newUser = await this.#newUserRow(input)
    const created = await this.#transact(async (trx) => {
      const row = await users.insertUser(trx, { ...newUser, last_login_at: newUser.created_at })
      if (row === undefined) return undefined
      const user = toTesseraUser(row)
      return { user, ...(await this.#tokenService.issueWithin(trx, user, options)) }
    })
    if (created === undefined) return undefined
    emitSafely(this.#events, this.#log, 'userCreated', { user: created.user })
    created.announce()
    return { user: created.user, ...created.issued }
  }

  /**
   * Changes the password if `currentPassword` is right, and revokes every other token of the
   * user in the same transaction. Returns false for a wrong current password.
   */
  async changePassword (user: TesseraUser, currentPassword: string, newPassword: string, keptTokenId: string, client: ClientContext = {}): Promise<boolean> {
    const row = await users.findUserById(this.#db, user.id)
    if (row === undefined || !(await this.#passwords.verify(row.password_hash, currentPassword))) return false
    const passwordHash = await this.#passwords.hash(newPassword)
    const subject = this.idOf(user)
    // Replaced only if still the hash the current password was checked against: of two concurrent
    // changes exactly one wins, and the other finds its current password no longer current.
    const revoked = await this.#transact(async (trx) => {
      if (!(await users.replacePasswordHash(trx, user.id, row.password_hash, passwordHash))) return undefined
      await this.#activity.record(trx, subject, 'password_changed', { tokenId: keptTokenId, ip: client.address, userAgent: client.userAgent })
      return await this.#tokenService.deleteAllWithin(trx, subject, { reason: 'password_changed', except: keptTokenId })
    })
    if (revoked === undefined) return false
    emitSafely(this.#events, this.#log, 'passwordChanged', { subject, revoked })
    return true
  }

  /**
   * Sets a user's password without the current one (an operator's reset, `tessera user set-password`)
   * and, unless `keepSessions`, revokes every token of the user in the same transaction. A login
   * verified against the old password and not yet committed is refused (see `logIn`). Returns how
   * many tokens were revoked, or `undefined` when there is no such user.
   */
  async setPassword (id: number, password: string, options: { keepSessions?: boolean } = {}): Promise<number | undefined> {
    const passwordHash = await this.#passwords.hash(password)
    const subject = String(id)
    const revoked = await this.#transact(async (trx) => {
      if (!(await users.setPasswordHash(trx, id, passwordHash))) return undefined
      await this.#activity.record(trx, subject, 'password_changed')
      return options.keepSessions === true ? 0 : await this.#tokenService.deleteAllWithin(trx, subject, { reason: 'password_changed' })
    })
    if (revoked !== undefined) emitSafely(this.#events, this.#log, 'passwordChanged', { subject, revoked })
    return revoked
  }

  /**
   * Marks a user inactive: they cannot log in, and their tokens are revoked in the same
   * transaction (presented, they are told `user_deactivated`). Returns whether the user changed.
   */
  async deactivate (id: number): Promise<boolean> {
    return await this.#transact(async (trx) => {
      const changed = await users.deactivateUser(trx, id, this.#clock())
      if (changed) await this.#activity.record(trx, String(id), 'user_deactivated')
      // Also when it was deactivated already: a token left from before (an older release kept them) goes too.
      await this.#tokenService.deleteAllWithin(trx, String(id), { reason: 'user_deactivated' })
      return changed
    })
  }

  /**
   * Lets a deactivated user log in again. The tokens they held when deactivated stay dead: they
   * are deleted in the same transaction, so that reactivating never brings back a session that
   * was stopped. Returns whether the user was deactivated.
   */
  async reactivate (id: number): Promise<boolean> {
    return await this.#transact(async (trx) => {
      if (!(await users.reactivateUser(trx, id))) return false
      await this.#tokenService.deleteAllWithin(trx, String(id), { reason: 'user_deactivated' })
      await this.#activity.record(trx, String(id), 'user_reactivated')
      return true
    })
  }

  /**
   * Deletes a user, every token of theirs and their activity log (addresses and User-Agents:
   * nothing of the person is kept), in one transaction. Returns how many tokens went with them,
   * or `undefined` when there is no such user.
   */
  async delete (id: number): Promise<number | undefined> {
    return await this.#transact(async (trx) => {
      if (!(await users.deleteUser(trx, id))) return undefined
      await this.#activity.forget(trx, String(id))
      return await this.#tokenService.deleteAllWithin(trx, String(id), { reason: 'revoked' })
    })
  }

  async byUsername (username: string): Promise<UserRow | undefined> {
    return await users.findUserByUsername(this.#db, username)
  }

  async list (): Promise<UserRow[]> {
    return await users.listUsers(this.#db)
  }

  async #newUserRow (input: NewUser): Promise<NewUserRow> {
    return {
      username: input.username,
      username_key: users.usernameKey(input.username),
      email: input.email ?? null,
      password_hash: await this.#passwords.hash(input.password),
      created_at: this.#clock(),
      deactivated_at: null,
      last_login_at: null
    }
  }
}
