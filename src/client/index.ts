/**
 * A small typed client for tessera's HTTP API, for scripts and integration tests. It runs on the
 * global `fetch` (Node 20+, browsers, Deno, Bun) and depends on nothing else.
 *
 * ```ts
 * import { TesseraClient, TesseraError } from 'tessera-auth/client'
 *
 * const client = new TesseraClient({ baseUrl: 'http://127.0.0.1:3000' })
 * await client.login({ username: 'alice', password, device: 'integration tests' })
 * const me = await client.me()
 * const orders = await fetch('http://127.0.0.1:3000/orders', { headers: client.authHeaders() })
 * await client.logout()
 * ```
 *
 * A token minted by the CLI (`TOKEN=$(tessera token create alice)`) is used as it is:
 * `new TesseraClient({ baseUrl, token: process.env.TOKEN })`.
 *
 * Every refusal is thrown as a `TesseraError` carrying the HTTP status, the server's message, and
 * its `code` (and, for a revoked token, `reason`) to act on:
 *
 * ```ts
 * try {
 *   await client.me()
 * } catch (error) {
 *   if (error instanceof TesseraError && error.code === 'TOKEN_REVOKED' && error.reason === 'password_changed') showPasswordChangedNotice()
 * }
 * ```
 */

/** A user as the API shows them. */
export interface TesseraUser {
  id: number
  username: string
  email: string | null
  /** ISO-8601, UTC. */
  createdAt: string
}

/** What `register` and `login` return: the token is shown this once. */
export interface IssuedToken {
  user: TesseraUser
  token: string
  /** The token's public id, for `revokeToken`. */
  tokenId: string
  /** ISO-8601, UTC, or null when the token never expires. */
  expiry: string | null
  /** What the token may do, sorted; `['*']`: everything. */
  scopes: string[]
}

/** One entry of the user's activity log, as `activity` shows it. */
export interface ActivityEvent {
  id: string
  type: 'login' | 'login_failed' | 'logout' | 'logout_all' | 'logout_others' | 'session_revoked' | 'session_evicted' |
  'session_renamed' | 'token_created' | 'password_changed' | 'user_deactivated' | 'user_reactivated'
  at: string
  tokenId: string | null
  device: string | null
  ip: string | null
  userAgent: string | null
}

/** One of the user's tokens, as `listTokens` shows it. */
export interface Session {
  id: string
  device: string
  createdAt: string
  expiry: string | null
  lastUsedAt: string | null
  /** What the token may do, sorted; `['*']`: everything. */
  scopes: string[]
  /** The client address the token was issued to; null when unknown (made by the CLI, or before addresses were recorded). */
  createdIp: string | null
  /** The client address of its last recorded use; null when unknown or never used. */
  lastUsedIp: string | null
  /** The User-Agent it was issued to (at most 512 characters); null when unknown. */
  userAgent: string | null
  /** Whether this is the token the client is using. */
  current: boolean
}

/** The session of the client's own token, as `whoami` shows it. */
export interface CurrentSession {
  /** The token's public id (as `listTokens` shows it). */
  id: string
  device: string
  createdAt: string
  /** ISO-8601, UTC, as this very call left it (slid, when the server slides expiries), or null when it never expires. */
  expiry: string | null
  lastUsedAt: string | null
  scopes: string[]
}

/** What `whoami` returns: the user, and the session of the client's token. */
export interface Me {
  user: TesseraUser
  session: CurrentSession
}

export interface CreateTokenInput {
  /** A label for the new token's session, e.g. "nightly export". */
  device: string
  /** What it may do: at most what the client's own token may. */
  scopes: string[]
  /** How long it lives: `<n>ms|s|m|h|d` or `none` (default: the server's TESSERA_TOKEN_TTL). */
  ttl?: string
}

/** A personal access token just minted: the only moment its secret is shown. */
export interface CreatedToken {
  token: string
  tokenId: string
  expiry: string | null
  scopes: string[]
  device: string
}

/** RFC 7662: a live token, or `{ active: false }` alone. */
export interface Introspection {
  active: boolean
  /** The user's id, as a string. */
  sub?: string
  username?: string
  /** The scopes, space-separated. */
  scope?: string
  /** Expiry in epoch seconds; absent for a token that never expires. */
  exp?: number
  iat?: number
  token_type?: 'Token'
  token_id?: string
  device?: string
}

export interface RegisterInput {
  username: string
  password: string
  email?: string
  /** A label for this session; the server derives one from the User-Agent without it. */
  device?: string
}

export interface LoginInput {
  username: string
  password: string
  device?: string
}

export interface ChangePasswordInput {
  currentPassword: string
  newPassword: string
}

export interface TesseraClientOptions {
  /** Where the service is, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string | URL
  /** A token to start with (from the CLI, an environment variable, an earlier login). */
  token?: string | null
  /** Where the plugin's routes are mounted (default `/auth`). */
  prefix?: string
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch
  /** Headers sent with every request, e.g. a `User-Agent`. */
  headers?: Record<string, string>
}

/** The `code` of a refusal: stable, for a program to act on (the README's table says what each means). */
export type TesseraErrorCode =
  | 'TOKEN_MISSING' | 'TOKEN_MALFORMED' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED' | 'USER_INACTIVE'
  | 'INSUFFICIENT_SCOPE' | 'BAD_CREDENTIALS' | 'TOKEN_LIMIT_REACHED' | 'USERNAME_TAKEN' | 'REGISTRATION_CLOSED'
  | 'RATE_LIMITED' | 'VALIDATION_FAILED' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'NOT_FOUND'
  | 'DATABASE_UNAVAILABLE' | 'SERVER_BUSY' | 'REQUEST_REFUSED' | 'INTERNAL_ERROR'

/** How a token was revoked: the `reason` beside a `TOKEN_REVOKED`. */
export type RevocationReason =
  | 'logout' | 'logout_all' | 'logout_others' | 'revoked' | 'password_changed' | 'evicted' | 'user_deactivated'

/** A known value, or another string (a newer server may send values this client does not know yet). */
type Known<T extends string> = T | (string & Record<never, never>)

export interface TesseraErrorOptions {
  requestId?: string | undefined
  code?: string | undefined
  reason?: string | undefined
  cause?: unknown
}

/**
 * A request the server refused (`status` is the HTTP status, `message` the server's explanation,
 * `code` what went wrong for a program) or one that never reached it (`status` 0, the network
 * error as `cause`).
 */
export class TesseraError extends Error {
  /** The HTTP status, or 0 when no response came. */
  readonly status: number
  /** The status's name as the server gave it (`Unauthorized`), or `NetworkError`. */
  readonly error: string
  /** The server's code (`TOKEN_EXPIRED`, …); undefined when no response came, or it was not tessera's (a proxy's error page). */
  readonly code: Known<TesseraErrorCode> | undefined
  /** With `TOKEN_REVOKED`: how the token was revoked (`logout`, `password_changed`, …); else undefined. */
  readonly reason: Known<RevocationReason> | undefined
  /** The server's `X-Request-Id` for this request, to find it in the server's log. */
  readonly requestId: string | undefined

  constructor (status: number, error: string, message: string, options: TesseraErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TesseraError'
    this.status = status
    this.error = error
    this.code = options.code
    this.reason = options.reason
    this.requestId = options.requestId
  }
}

interface ErrorBody {
  statusCode?: unknown
  error?: unknown
  message?: unknown
  code?: unknown
  reason?: unknown
}

export class TesseraClient {
  /** The token the client authenticates with; `register` and `login` set it, `logout` clears it. */
  token: string | null
  readonly #baseUrl: string
  readonly #prefix: string
  readonly #fetch: typeof fetch
  readonly #headers: Record<string, string>

  constructor (options: TesseraClientOptions) {
    this.#baseUrl = String(options.baseUrl).replace(/\/+$/, '')
    this.#prefix = `/${(options.prefix ?? '/auth').replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '')
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis)
    this.#headers = { ...options.headers }
    this.token = options.token ?? null
  }

  /** The header that authenticates a request to one's own protected routes. */
  authHeaders (): { authorization: string } {
    if (this.token === null) throw new Error('TesseraClient has no token: call login() or register(), or pass `token`')
    return { authorization: `Token ${this.token}` }
  }

  /** Creates a user and their first token, which the client then uses. */
  async register (input: RegisterInput): Promise<IssuedToken> {
    const issued = await this.#request<IssuedToken>('POST', '/register', { body: input, authenticated: false })
    this.token = issued.token
    return issued
  }

  /** Logs in: a new token for this device, which the client then uses. */
  async login (input: LoginInput): Promise<IssuedToken> {
    const issued = await this.#request<IssuedToken>('POST', '/login', { body: input, authenticated: false })
    this.token = issued.token
    return issued
  }

  /** The user the token belongs to. */
  async me (): Promise<TesseraUser> {
    return (await this.whoami()).user
  }

  /** The user the token belongs to, and the token's own session: its id, and its expiry as this call left it. */
  async whoami (): Promise<Me> {
    return await this.#request<Me>('GET', '/me')
  }

  /** Revokes the client's token, and forgets it. */
  async logout (): Promise<void> {
    await this.#request('POST', '/logout')
    this.token = null
  }

  /** Revokes every token of the user, the client's included, and forgets it. */
  async logoutAll (): Promise<void> {
    await this.#request('POST', '/logoutall')
    this.token = null
  }

  /** Revokes every token of the user except the client's. */
  async logoutOthers (): Promise<void> {
    await this.#request('POST', '/logoutothers')
  }

  /** The user's live tokens, newest first. */
  async listTokens (): Promise<Session[]> {
    return await this.#request<Session[]>('GET', '/tokens')
  }

  /** Gives one of the user's sessions (by id, from `listTokens`) a new device label; returns it. */
  async renameToken (id: string, device: string): Promise<Session> {
    return await this.#request<Session>('PATCH', `/tokens/${encodeURIComponent(id)}`, { body: { device } })
  }

  /**
   * A page of the user's activity log, newest first; pass `next` back as `before` for the next
   * (older) page, until it is `null`. The client's token needs the scope `sessions`.
   */
  async activity (options: { limit?: number, before?: string } = {}): Promise<{ events: ActivityEvent[], next: string | null }> {
    const query = new URLSearchParams()
    if (options.limit !== undefined) query.set('limit', String(options.limit))
    if (options.before !== undefined) query.set('before', options.before)
    const search = query.toString()
    return await this.#request('GET', search === '' ? '/activity' : `/activity?${search}`)
  }

  /** Revokes one of the user's tokens by id (from `listTokens`). */
  async revokeToken (id: string): Promise<void> {
    await this.#request('DELETE', `/tokens/${encodeURIComponent(id)}`)
  }

  /**
   * Mints a personal access token for the user (for a script), with at most the scopes of the
   * client's own token. The client keeps using its own token.
   */
  async createToken (input: CreateTokenInput): Promise<CreatedToken> {
    return await this.#request<CreatedToken>('POST', '/tokens', { body: input })
  }

  /**
   * RFC 7662 introspection of another token; the client's own token needs the scope `introspect`
   * (a service token: `tessera token create orders-service --scope introspect --ttl none`).
   */
  async introspect (token: string): Promise<Introspection> {
    return await this.#request<Introspection>('POST', '/introspect', { body: { token } })
  }

  /** Changes the password; every other token of the user is revoked, the client's lives on. */
  async changePassword (input: ChangePasswordInput): Promise<void> {
    await this.#request('POST', '/password', { body: input })
  }

  async #request<T = void> (method: string, path: string, options: { body?: unknown, authenticated?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = { ...this.#headers }
    if (options.authenticated !== false && this.token !== null) headers.authorization = `Token ${this.token}`
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const url = `${this.#baseUrl}${this.#prefix}${path}`
    let response: Response
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
      })
    } catch (error) {
      const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)
      throw new TesseraError(0, 'NetworkError', `${method} ${url} failed: ${reason}`, { cause: error })
    }
    const requestId = response.headers.get('x-request-id') ?? undefined
    const text = await response.text()
    if (!response.ok) throw errorFrom(response, text, requestId)
    if (response.status === 204 || text === '') return undefined as T
    return JSON.parse(text) as T
  }
}

function stringOrUndefined (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function errorFrom (response: Response, text: string, requestId: string | undefined): TesseraError {
  let body: ErrorBody = {}
  try {
    body = JSON.parse(text) as ErrorBody
  } catch {
    // Not JSON: a proxy's error page, say. Fall back on the status line.
  }
  const error = typeof body.error === 'string' ? body.error : response.statusText || `HTTP ${response.status}`
  const message = typeof body.message === 'string' ? body.message : (text.trim().slice(0, 200) || error)
  return new TesseraError(response.status, error, message, { requestId, code: stringOrUndefined(body.code), reason: stringOrUndefined(body.reason) })
}
