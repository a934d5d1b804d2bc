/**
 * The settings of the tessera plugin, their defaults, and the parsers for the
 * textual forms (`10h`, `none`, `10/1m`) that the environment and the CLI use.
 */
import { availableParallelism } from 'node:os'
import { scopesProblem } from './tokens/scopes.js'

/** A rate: at most `max` events per `windowMs`. */
export interface Rate {
  max: number
  windowMs: number
}

export type Registration = 'open' | 'closed'
export type TokenLimitPolicy = 'refuse' | 'evict-oldest'

export interface TesseraSettings {
  /** How long a new token lives, in ms; `null`: tokens never expire. */
  tokenTtl: number | null
  /** `closed`: `POST /auth/register` answers 403 (users are made with the CLI). */
  registration: Registration
  /** Login and register attempts allowed per client address and per username; `null`: no limit. */
  loginRateLimit: Rate | null
  /** Requests to tessera's authenticated routes allowed per token; `null`: no limit. */
  tokenRateLimit: Rate | null
  /** When true, each authenticated use slides the token's expiry to now + `tokenTtl`. */
  autoRefresh: boolean
  /** Longest a sliding token can live from its creation, in ms; `null`: no cap. */
  autoRefreshMaxTtl: number | null
  /** `lastUsedAt` and sliding expiry are written at most once per this many ms per token. */
  minRefreshInterval: number
  /** Most live tokens a user may hold; `null`: no limit. */
  tokenLimitPerUser: number | null
  /** What a login beyond `tokenLimitPerUser` does. */
  tokenLimitPolicy: TokenLimitPolicy
  /** The fixed start of every token, so that people and secret scanners recognise one. */
  tokenPrefix: string
  /** How often expired tokens are swept from the table, in ms; `null`: never (they still die when presented). */
  sweepInterval: number | null
  /**
   * How long a revoked or expired token is remembered (its digest, when and why it ended), in ms:
   * presented within it, it is told `TOKEN_REVOKED` with its reason, or `TOKEN_EXPIRED`; after it,
   * `TOKEN_INVALID`. The sweep forgets older ones.
   */
  revocationMemory: number
  /** How long the activity log keeps an entry, in ms; older entries go with the token sweep. */
  activityRetention: number
  /** The scopes of the tokens that `POST /auth/register` and `POST /auth/login` issue (`*`: every scope). */
  defaultScopes: readonly string[]
  /**
   * Most keys (addresses, usernames, tokens) each rate limit counts at once. A key is forgotten
   * only when its window is over; when this many windows are open, new keys are refused with 429
   * until the oldest one ends. Bounds each limit's memory: 0.2 to 0.5 KiB a key (a 150-character
   * username is the longest), so at most about 50 MB per limit at the default of 100 000.
   */
  rateLimitMaxKeys: number
  /**
   * Most password hashings and verifications that may wait for an argon2 slot (one per core runs
   * at once); past it, a login, registration or password change answers 503 with `Retry-After`.
   */
  argon2QueueLimit: number
  /**
   * The web origins (`scheme://host[:port]`) whose pages may call tessera's routes from a browser
   * or a web view (CORS): e.g. `capacitor://localhost`, `https://app.example.com`. Empty: no CORS
   * headers at all, and browsers allow only pages of the service's own origin.
   */
  corsOrigins: readonly string[]
}

/**
 * The default argon2 queue: 64 waiting operations per core. Each operation takes tens of ms
 * (about 16 ms at OWASP's parameters on a current core), so the last in line waits about a second
 * whatever the number of cores: long enough that an honest burst (an app's devices waking up, a
 * test suite's 32 parallel logins) is served rather than refused, short enough that a flood gets
 * its 503 before clients give up. Waiting operations take turns between client addresses.
 */
export const DEFAULT_ARGON2_QUEUE_LIMIT = 64 * availableParallelism()

export const DEFAULT_SETTINGS: Readonly<TesseraSettings> = Object.freeze({
  tokenTtl: 10 * 60 * 60 * 1000,
  registration: 'open',
  loginRateLimit: { max: 10, windowMs: 60 * 1000 },
  tokenRateLimit: { max: 1000, windowMs: 60 * 1000 },
  autoRefresh: false,
  autoRefreshMaxTtl: null,
  minRefreshInterval: 60 * 1000,
  tokenLimitPerUser: null,
  tokenLimitPolicy: 'refuse',
  tokenPrefix: 'tsr_',
  sweepInterval: 60 * 60 * 1000,
  revocationMemory: 30 * 24 * 60 * 60 * 1000,
  activityRetention: 90 * 24 * 60 * 60 * 1000,
  defaultScopes: Object.freeze(['*']),
  rateLimitMaxKeys: 100_000,
  argon2QueueLimit: DEFAULT_ARGON2_QUEUE_LIMIT,
  corsOrigins: Object.freeze([])
})

/**
 * Credentials the SQLite token cache holds by default (an option of `openDatabase`, not of the
 * plugin: the cache belongs to the database connection). Past it, the cache starts over.
 */
export const DEFAULT_TOKEN_CACHE_SIZE = 10_000

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const DURATION = /^(\d{1,15})(ms|s|m|h|d)$/

/** Describes the accepted forms, for error messages. */
export const DURATION_FORMS = '<n>ms, <n>s, <n>m, <n>h or <n>d with n > 0 (e.g. 10h)'

/** Parses `<n>ms|s|m|h|d` into milliseconds; returns `undefined` when the text is not such a duration. */
export function parseDuration (text: string): number | undefined {
  const match = DURATION.exec(text.trim())
  if (match === null) return undefined
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined
}

/** Parses a duration or `none` (→ `null`). */
export function parseOptionalDuration (text: string): number | null | undefined {
  return text.trim() === 'none' ? null : parseDuration(text)
}

/** Parses `<max>/<duration>`, e.g. `10/1m`, or `off` (→ `null`). */
export function parseRate (text: string): Rate | null | undefined {
  const trimmed = text.trim()
  if (trimmed === 'off') return null
  const slash = trimmed.indexOf('/')
  if (slash < 1) return undefined
  const max = Number(trimmed.slice(0, slash))
  const windowMs = parseDuration(trimmed.slice(slash + 1))
  if (!Number.isSafeInteger(max) || max < 1 || windowMs === undefined) return undefined
  return { max, windowMs }
}

/** Formats milliseconds as the shortest exact duration text (`3600000` → `1h`). */
export function formatDuration (ms: number | null): string {
  if (ms === null) return 'none'
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`
  }
  return `${ms}ms`
}

/**
 * A web origin as a browser sends it in `Origin`: a lower-case scheme, `://`, a host (a name, an
 * IPv4 address or a bracketed IPv6 one) and an optional port; no path, not even `/`.
 */
const ORIGIN_PATTERN = /^[a-z][a-z0-9+.-]*:\/\/(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/

/** What is wrong with an allowed CORS origin, in words, or `undefined`. */
export function originProblem (origin: string): string | undefined {
  if (origin === '*') return '"*" is refused: name each origin that may call tessera'
  if (!ORIGIN_PATTERN.test(origin)) {
    return `${JSON.stringify(origin)} is not an origin: expected scheme://host[:port] in lower case, without a path or a trailing /`
  }
  return undefined
}

/** Parses `TESSERA_CORS_ORIGINS`: comma-separated origins, compared without regard to case; `undefined` when one is invalid. */
export function parseOriginList (text: string): string[] | undefined {
  const origins = text.split(',').map((origin) => origin.trim().toLowerCase()).filter((origin) => origin !== '')
  return origins.every((origin) => originProblem(origin) === undefined) ? [...new Set(origins)] : undefined
}

export const TOKEN_PREFIX_PATTERN = /^[A-Za-z0-9_]{1,16}$/

/**
 * Checks a complete settings object and returns the problems found, one sentence each.
 * The environment loader and the plugin both use it, so a bad value is refused the same way
 * whichever door it came in by.
 */
export function settingsProblems (settings: TesseraSettings): string[] {
  const problems: string[] = []
  const positive = (value: number | null, name: string, allowNull: boolean): void => {
    if (value === null ? !allowNull : !(Number.isSafeInteger(value) && value > 0)) {
      problems.push(`${name} must be a positive whole number of milliseconds${allowNull ? ' or null' : ''}`)
    }
  }
  positive(settings.tokenTtl, 'tokenTtl', true)
  positive(settings.autoRefreshMaxTtl, 'autoRefreshMaxTtl', true)
  positive(settings.minRefreshInterval, 'minRefreshInterval', false)
  positive(settings.sweepInterval, 'sweepInterval', true)
  positive(settings.revocationMemory, 'revocationMemory', false)
  positive(settings.activityRetention, 'activityRetention', false)
  positive(settings.tokenLimitPerUser, 'tokenLimitPerUser', true)
  if (!(Number.isSafeInteger(settings.rateLimitMaxKeys) && settings.rateLimitMaxKeys > 0)) {
    problems.push('rateLimitMaxKeys must be a positive whole number')
  }
  if (!(Number.isSafeInteger(settings.argon2QueueLimit) && settings.argon2QueueLimit >= 0)) {
    problems.push('argon2QueueLimit must be a whole number (0: never wait)')
  }
  if (settings.registration !== 'open' && settings.registration !== 'closed') {
    problems.push("registration must be 'open' or 'closed'")
  }
  if (settings.tokenLimitPolicy !== 'refuse' && settings.tokenLimitPolicy !== 'evict-oldest') {
    problems.push("tokenLimitPolicy must be 'refuse' or 'evict-oldest'")
  }
  const scopes = Array.isArray(settings.defaultScopes) ? scopesProblem(settings.defaultScopes) : 'not an array'
  if (scopes !== undefined) problems.push(`defaultScopes: ${scopes}`)
  if (!TOKEN_PREFIX_PATTERN.test(settings.tokenPrefix)) {
    problems.push('tokenPrefix must be 1 to 16 letters, digits or underscores')
  }
  for (const name of ['loginRateLimit', 'tokenRateLimit'] as const) {
    const rate = settings[name]
    if (rate !== null) {
      positive(rate.max, `${name}.max`, false)
      positive(rate.windowMs, `${name}.windowMs`, false)
    }
  }
  if (!Array.isArray(settings.corsOrigins)) {
    problems.push('corsOrigins must be an array of origins')
  } else {
    for (const origin of settings.corsOrigins) {
      const problem = typeof origin === 'string' ? originProblem(origin) : 'not a string'
      if (problem !== undefined) problems.push(`corsOrigins: ${problem}`)
    }
  }
  if (typeof settings.autoRefresh !== 'boolean') problems.push('autoRefresh must be a boolean')
  if (settings.autoRefreshMaxTtl !== null && settings.tokenTtl === null) {
    problems.push('autoRefreshMaxTtl cannot apply when tokenTtl is null (tokens never expire): set a TTL, or remove the cap')
  } else if (settings.autoRefreshMaxTtl !== null && settings.autoRefresh !== true) {
    problems.push('autoRefreshMaxTtl applies only with autoRefresh: true; set it, or remove the cap')
  }
  return problems
}
