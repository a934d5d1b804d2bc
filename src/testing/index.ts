/**
 * `tessera-auth/testing`: a real tessera service for an application's integration tests.
 *
 * ```js
 * import { startTestServer } from 'tessera-auth/testing'
 *
 * const kit = await startTestServer()
 * const alice = await kit.createUser({ username: 'alice' })       // { id, username, email, createdAt, password }
 * const { token } = await kit.tokenFor('alice', { scopes: ['orders:read'] })
 * await fetch(`${kit.url}/auth/me`, { headers: { authorization: `Token ${token}` } })
 * await kit.close()
 * ```
 *
 * The service is the one `tessera serve` runs (the same app, routes and rules), listening on a
 * free port of 127.0.0.1, on a SQLite database in memory that vanishes on `close()`. Users and
 * tokens are made through tessera's own code (the built-in user store and the token service),
 * without an HTTP round trip, and passwords are hashed at the test cost: argon2's smallest
 * parameters, microseconds instead of tens of milliseconds. Rate limits are off unless asked for.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { buildAppWith } from '../app.js'
import { deviceProblem, isEmail, passwordProblem, usernameProblem } from '../cli/validate.js'
import { loadConfig } from '../config.js'
import { openDatabase } from '../db/database.js'
import { DURATION_FORMS, parseOptionalDuration, type TesseraSettings } from '../settings.js'
import { scopesProblem } from '../tokens/scopes.js'
import type { IssuedToken } from '../tokens/service.js'
import { toTesseraUser, type TesseraUser } from '../users/builtin/user.js'
import { grantFor } from './grant.js'

export type { IssuedToken } from '../tokens/service.js'
export type { TesseraSettings } from '../settings.js'
export type { TesseraUser } from '../users/builtin/user.js'

export interface TestServerOptions {
  /** Turn the login, registration and per-token rate limits on, at their defaults (default: off). */
  rateLimits?: boolean
  /** Settings of the service (the plugin's options, e.g. `{ tokenTtl: 1000, registration: 'closed' }`); they win over `rateLimits`. */
  settings?: Partial<TesseraSettings>
  /** Fastify's `logger` option (default `false`: silent). */
  logger?: FastifyServerOptions['logger']
  /**
   * The service's clock: the current time in whole ms since the epoch (default `Date.now`). A test
   * that moves its own clock forward sees tokens expire, sliding expiries move and rate-limit
   * windows end at once, instead of waiting for them.
   */
  clock?: () => number
}

export interface NewTestUser {
  /** Default: a fresh `user_…` name. */
  username?: string
  /** Default: a fresh random password (returned). */
  password?: string
  email?: string | null
}

/** A user the kit made: the user as tessera's API shows it, and the password it was given. */
export interface TestUser extends TesseraUser {
  password: string
}

export interface TokenForOptions {
  /** The session's label (default `test`). */
  device?: string
  /** What the token may do (default: the service's default scopes, `*`). */
  scopes?: readonly string[]
  /** Its lifetime: milliseconds, a duration (`'1h'`, `'30s'`), or `null`/`'none'` never to expire (default: the service's TTL, 10 h). */
  ttl?: number | string | null
}

export interface TestServer {
  /** Where the service listens: `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string
  /** The Fastify app (for `app.inject`, `app.tessera.events`, …). */
  readonly app: FastifyInstance
  /**
   * Creates a user, as `POST /auth/register` would but without a token.
   * @throws {TypeError} for a username, password or email the API would refuse; {Error} when the username is taken.
   */
  createUser: (user?: NewTestUser) => Promise<TestUser>
  /**
   * Issues a token for an existing, active user, as `tessera token create` does.
   * @throws {Error} for an unknown or deactivated user, or the token limit; {TypeError} for a bad option.
   */
  tokenFor: (username: string, options?: TokenForOptions) => Promise<IssuedToken>
  /** Stops the service and discards its database. Safe to call twice. */
  close: () => Promise<void>
}

const DEFAULT_DEVICE = 'test'

/** A lifetime in ms (`null`: never expires) from `TokenForOptions.ttl`; `undefined` when absent or invalid. */
function ttlOf (ttl: TokenForOptions['ttl']): number | null | undefined {
  if (typeof ttl === 'string') return parseOptionalDuration(ttl)
  if (typeof ttl === 'number') return Number.isSafeInteger(ttl) && ttl > 0 ? ttl : undefined
  return ttl
}

/**
 * Starts a tessera service for a test. Close it when the test is done (`t.after(() => kit.close())`
 * with node:test, `t.teardown(() => kit.close())` with tap).
 */
export async function startTestServer (options: TestServerOptions = {}): Promise<TestServer> {
  // The process's own TESSERA_* variables are not read: a test gets the same service wherever it runs.
  const base = loadConfig({ DATABASE_URL: 'sqlite::memory:' })
  const rateLimits = options.rateLimits === true ? {} : { loginRateLimit: null, tokenRateLimit: null }
  const config = { ...base, settings: { ...base.settings, ...rateLimits, ...options.settings } }
  // No token cache: it watches a database file's WAL index, which an in-memory database has not.
  const grant = await grantFor(openDatabase('sqlite::memory:', { tokenCacheSize: 0 }))
  const app = await buildAppWith(config, { logger: options.logger ?? false, clock: options.clock }, grant)
  let url: string
  try {
    url = await app.listen({ port: 0, host: '127.0.0.1' })
  } catch (error) {
    await app.close()
    throw error
  }
  const users = app.tessera.builtinUsers!

  const createUser = async (input: NewTestUser = {}): Promise<TestUser> => {
    const username = input.username ?? `user_${randomUUID().slice(0, 8)}`
    const password = input.password ?? randomBytes(18).toString('base64url')
    const email = input.email ?? null
    const problem = usernameProblem(username) ?? passwordProblem(password) ??
      (email === null || isEmail(email) ? undefined : `${JSON.stringify(email)} is not an email address`)
    if (problem !== undefined) throw new TypeError(`createUser: ${problem}`)
    const user = await users.create({ username, password, email })
    if (user === undefined) throw new Error(`createUser: a user named ${JSON.stringify(username)} already exists`)
    return { ...user, password }
  }

  const tokenFor = async (username: string, tokenOptions: TokenForOptions = {}): Promise<IssuedToken> => {
    const { device = DEFAULT_DEVICE, scopes } = tokenOptions
    const ttl = ttlOf(tokenOptions.ttl)
    const problem = deviceProblem(device) ?? (scopes === undefined ? undefined : scopesProblem(scopes)) ??
      (ttl === undefined && tokenOptions.ttl !== undefined ? `ttl: ${JSON.stringify(tokenOptions.ttl)} is not ${DURATION_FORMS}, none, or milliseconds` : undefined)
    if (problem !== undefined) throw new TypeError(`tokenFor: ${problem}`)
    const row = await users.byUsername(username)
    if (row === undefined) throw new Error(`tokenFor: no user named ${JSON.stringify(username)}`)
    if (row.deactivated_at !== null) throw new Error(`tokenFor: user ${row.username} is deactivated`)
    return await app.tessera.tokens.issue(toTesseraUser(row), {
      device, ...(ttl === undefined ? {} : { ttl }), ...(scopes === undefined ? {} : { scopes })
    })
  }

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= app.close().then(() => {})
    await closing
  }

  return { url, app, createUser, tokenFor, close }
}
