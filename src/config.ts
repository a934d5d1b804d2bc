/**
 * The service's configuration, read from the environment once at startup.
 * Every variable is parsed and checked here; a bad value stops the process with
 * one line per problem instead of surfacing later as a confusing failure.
 */
import { isIP } from 'node:net'
import {
  DEFAULT_SETTINGS, DEFAULT_TOKEN_CACHE_SIZE, DURATION_FORMS, TOKEN_PREFIX_PATTERN, formatDuration, parseDuration,
  parseOptionalDuration, parseOriginList, parseRate, type TesseraSettings
} from './settings.js'
import { parseScopeList } from './tokens/scopes.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface Config {
  port: number
  host: string
  databaseUrl: string
  logLevel: LogLevel
  /**
   * Forwarded as `trustProxy` to Fastify: `false` (believe no `X-Forwarded-For`), the number of
   * proxy hops in front of the service, or a comma-separated list of proxy addresses/CIDRs.
   */
  trustProxy: false | number | string
  /** Most connections a PostgreSQL pool opens (ignored on SQLite). */
  dbPoolSize: number
  /** Most credentials the SQLite token cache holds; 0 turns it off (ignored on PostgreSQL). */
  tokenCacheSize: number
  /** SQLite: the writes of one event-loop turn share one commit (ignored on PostgreSQL). */
  groupCommit: boolean
  /** Apply pending migrations before listening. */
  migrateOnStart: boolean
  /** Serve Prometheus metrics at `GET /metrics` (`metrics/`). */
  metrics: boolean
  /** Serve them on this port instead of the service's (on `host`); `null`: on the service's port. */
  metricsPort: number | null
  settings: TesseraSettings
}

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/** One environment variable: its default (as text, shown in docs) and how to parse it. */
interface Variable<T> {
  default: string
  expected: string
  parse: (text: string) => T | undefined
  /** Why a value that looks plausible is nonetheless refused, or `undefined` (checked before `parse`). */
  refuse?: (text: string) => string | undefined
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

const oneOf = <T extends string>(values: readonly T[]) => (text: string): T | undefined =>
  values.find((value) => value === text)

const boolean = (text: string): boolean | undefined =>
  ({ true: true, 1: true, false: false, 0: false } as Record<string, boolean>)[text.toLowerCase()]

const integer = (min: number, max: number) => (text: string): number | undefined => {
  const value = /^\d+$/.test(text) ? Number(text) : NaN
  return value >= min && value <= max ? value : undefined
}

/** The names proxy-addr (Fastify's `trustProxy`) gives to the private ranges. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** `10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`, or one of proxy-addr's range names. */
function isProxyAddress (entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true
  const [address = '', bits, ...extra] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || extra.length > 0) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}

/**
 * `false`/`0`: trust no proxy; a whole number n: trust n hops (the right-most n `X-Forwarded-For`
 * entries are our proxies'); otherwise a comma-separated list of proxy addresses/CIDRs.
 */
function parseTrustProxy (text: string): false | number | string | undefined {
  if (boolean(text) === false) return false
  if (/^\d+$/.test(text)) return integer(1, 100)(text)
  const entries = text.split(',').map((entry) => entry.trim())
  return entries.every(isProxyAddress) ? entries.join(',') : undefined
}

const optionalInteger = (text: string): number | null | undefined =>
  text === 'none' ? null : integer(1, 1_000_000)(text)

/** The environment variables tessera reads, with their defaults. */
export const VARIABLES = {
  PORT: { default: '3000', expected: 'a port number from 0 to 65535', parse: integer(0, 65535) },
  HOST: { default: '127.0.0.1', expected: 'a host name or address', parse: (t: string) => t || undefined },
  DATABASE_URL: {
    default: 'sqlite:./data/tessera.db',
    expected: 'sqlite:<path>, sqlite::memory: or postgres://user@host:5432/db',
    parse: (t: string) => (/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(t) ? t : undefined)
  },
  LOG_LEVEL: { default: 'info', expected: LOG_LEVELS.join(', '), parse: oneOf(LOG_LEVELS) },
  TESSERA_TRUST_PROXY: {
    default: 'false',
    expected: 'false, the number of proxy hops in front of the service (1 to 100), or a comma-separated list of ' +
      'proxy addresses/CIDRs (e.g. 10.0.0.1,10.1.0.0/16)',
    parse: parseTrustProxy,
    refuse: (t: string) => t.toLowerCase() === 'true'
      ? 'true would take the client address from the left-most X-Forwarded-For entry, which any client can ' +
        'write, and so let every client pick the address its rate limits count: give the addresses/CIDRs of ' +
        'your proxies (e.g. 10.0.0.1,10.1.0.0/16) or the number of proxy hops in front of the service (e.g. 1)'
      : undefined
  },
  TESSERA_DB_POOL_SIZE: { default: '10', expected: 'a whole number from 1 to 1000', parse: integer(1, 1000) },
  TESSERA_TOKEN_CACHE_SIZE: { default: String(DEFAULT_TOKEN_CACHE_SIZE), expected: 'a whole number from 0 to 10000000', parse: integer(0, 10_000_000) },
  TESSERA_GROUP_COMMIT: { default: 'true', expected: 'true or false', parse: boolean },
  TESSERA_MIGRATE_ON_START: { default: 'true', expected: 'true or false', parse: boolean },
  TESSERA_METRICS: { default: 'false', expected: 'true or false', parse: boolean },
  TESSERA_METRICS_PORT: {
    default: 'none',
    expected: 'a port number from 0 to 65535, or none (serve /metrics on the service\'s port)',
    parse: (t: string) => (t === 'none' ? null : integer(0, 65535)(t))
  },
  TESSERA_TOKEN_TTL: {
    default: formatDuration(DEFAULT_SETTINGS.tokenTtl),
    expected: `${DURATION_FORMS}, or none`,
    parse: parseOptionalDuration
  },
  TESSERA_REGISTRATION: { default: 'open', expected: 'open or closed', parse: oneOf(['open', 'closed'] as const) },
  TESSERA_LOGIN_RATE_LIMIT: {
    default: '10/1m',
    expected: '<attempts>/<duration> (e.g. 10/1m), or off',
    parse: parseRate
  },
  TESSERA_TOKEN_RATE_LIMIT: {
    default: '1000/1m',
    expected: '<requests>/<duration> (e.g. 1000/1m), or off',
    parse: parseRate
  },
  TESSERA_AUTO_REFRESH: { default: 'false', expected: 'true or false', parse: boolean },
  TESSERA_AUTO_REFRESH_MAX_TTL: { default: 'none', expected: `${DURATION_FORMS}, or none`, parse: parseOptionalDuration },
  TESSERA_MIN_REFRESH_INTERVAL: {
    default: formatDuration(DEFAULT_SETTINGS.minRefreshInterval),
    expected: DURATION_FORMS,
    parse: parseDuration
  },
  TESSERA_TOKEN_LIMIT_PER_USER: { default: 'none', expected: 'a whole number of at least 1, or none', parse: optionalInteger },
  TESSERA_TOKEN_LIMIT_POLICY: {
    default: 'refuse',
    expected: 'refuse or evict-oldest',
    parse: oneOf(['refuse', 'evict-oldest'] as const)
  },
  TESSERA_TOKEN_PREFIX: {
    default: DEFAULT_SETTINGS.tokenPrefix,
    expected: '1 to 16 letters, digits or underscores',
    parse: (t: string) => (TOKEN_PREFIX_PATTERN.test(t) ? t : undefined)
  },
  TESSERA_SWEEP_INTERVAL: { default: '1h', expected: `${DURATION_FORMS}, or none`, parse: parseOptionalDuration },
  TESSERA_REVOCATION_MEMORY: {
    default: formatDuration(DEFAULT_SETTINGS.revocationMemory),
    expected: DURATION_FORMS,
    parse: parseDuration
  },
  TESSERA_ACTIVITY_RETENTION: { default: '90d', expected: DURATION_FORMS, parse: parseDuration },
  TESSERA_DEFAULT_SCOPES: {
    default: '*',
    expected: 'a comma-separated list of scopes (1 to 64 characters of a-z 0-9 _ . : -), or *',
    parse: parseScopeList
  },
  TESSERA_RATE_LIMIT_MAX_KEYS: {
    default: String(DEFAULT_SETTINGS.rateLimitMaxKeys),
    expected: 'a whole number from 1 to 100000000',
    parse: integer(1, 100_000_000)
  },
  TESSERA_CORS_ORIGINS: {
    default: '',
    expected: 'a comma-separated list of origins, scheme://host[:port] without a path (e.g. capacitor://localhost,https://app.example.com); ' +
      'empty: no CORS',
    parse: parseOriginList,
    refuse: (t: string) => t.split(',').some((origin) => origin.trim() === '*')
      ? '"*" would let every web page call tessera from its visitors\' browsers (and spread password guesses over ' +
        'their addresses): list the origins of your own web apps'
      : undefined
  },
  TESSERA_ARGON2_QUEUE_LIMIT: {
    default: String(DEFAULT_SETTINGS.argon2QueueLimit),
    expected: 'a whole number from 0 to 100000 (0: never wait for a free core)',
    parse: integer(0, 100_000)
  }
} satisfies Record<string, Variable<unknown>>

type Parsed = { [K in keyof typeof VARIABLES]: Exclude<ReturnType<(typeof VARIABLES)[K]['parse']>, undefined> }

/**
 * Reads and validates the configuration.
 * @throws {ConfigError} listing every variable that holds a bad value.
 */
export function loadConfig (env: Env = process.env): Config {
  const problems: string[] = []
  const values: Record<string, unknown> = {}
  for (const [name, variable] of Object.entries(VARIABLES) as Array<[string, Variable<unknown>]>) {
    const raw = env[name]
    const text = raw === undefined || raw.trim() === '' ? variable.default : raw.trim()
    const refusal = variable.refuse?.(text)
    const value = refusal === undefined ? variable.parse(text) : undefined
    if (refusal !== undefined) {
      problems.push(`${name}=${JSON.stringify(raw)} is refused: ${refusal}`)
    } else if (value === undefined) {
      problems.push(`${name}=${JSON.stringify(raw)} is not valid: expected ${variable.expected}`)
    }
    values[name] = value
  }
  if (problems.length > 0) throw new ConfigError(problems)
  const v = values as Parsed
  // A cap that cannot apply is refused rather than silently ignored.
  if (v.TESSERA_AUTO_REFRESH_MAX_TTL !== null) {
    const cap = `TESSERA_AUTO_REFRESH_MAX_TTL=${JSON.stringify(env.TESSERA_AUTO_REFRESH_MAX_TTL)}`
    if (v.TESSERA_TOKEN_TTL === null) {
      problems.push(`${cap} cannot apply: TESSERA_TOKEN_TTL=none issues tokens that never expire (set a TTL, or remove the cap)`)
    } else if (!v.TESSERA_AUTO_REFRESH) {
      problems.push(`${cap} applies only to sliding tokens: set TESSERA_AUTO_REFRESH=true, or remove the cap`)
    }
    if (problems.length > 0) throw new ConfigError(problems)
  }
  if (v.TESSERA_METRICS_PORT !== null) {
    const port = `TESSERA_METRICS_PORT=${JSON.stringify(env.TESSERA_METRICS_PORT)}`
    if (!v.TESSERA_METRICS) problems.push(`${port} applies only with TESSERA_METRICS=true: set it too, or remove the port`)
    else if (v.TESSERA_METRICS_PORT === v.PORT && v.PORT !== 0) problems.push(`${port} is the service's own PORT: give the metrics another port, or none`)
    if (problems.length > 0) throw new ConfigError(problems)
  }
  return {
    port: v.PORT,
    host: v.HOST,
    databaseUrl: v.DATABASE_URL,
    logLevel: v.LOG_LEVEL,
    trustProxy: v.TESSERA_TRUST_PROXY,
    dbPoolSize: v.TESSERA_DB_POOL_SIZE,
    tokenCacheSize: v.TESSERA_TOKEN_CACHE_SIZE,
    groupCommit: v.TESSERA_GROUP_COMMIT,
    migrateOnStart: v.TESSERA_MIGRATE_ON_START,
    metrics: v.TESSERA_METRICS,
    metricsPort: v.TESSERA_METRICS_PORT,
    settings: {
      tokenTtl: v.TESSERA_TOKEN_TTL,
      registration: v.TESSERA_REGISTRATION,
      loginRateLimit: v.TESSERA_LOGIN_RATE_LIMIT,
      tokenRateLimit: v.TESSERA_TOKEN_RATE_LIMIT,
      autoRefresh: v.TESSERA_AUTO_REFRESH,
      autoRefreshMaxTtl: v.TESSERA_AUTO_REFRESH_MAX_TTL,
      minRefreshInterval: v.TESSERA_MIN_REFRESH_INTERVAL,
      tokenLimitPerUser: v.TESSERA_TOKEN_LIMIT_PER_USER,
      tokenLimitPolicy: v.TESSERA_TOKEN_LIMIT_POLICY,
      tokenPrefix: v.TESSERA_TOKEN_PREFIX,
      sweepInterval: v.TESSERA_SWEEP_INTERVAL,
      revocationMemory: v.TESSERA_REVOCATION_MEMORY,
      activityRetention: v.TESSERA_ACTIVITY_RETENTION,
      defaultScopes: v.TESSERA_DEFAULT_SCOPES,
      rateLimitMaxKeys: v.TESSERA_RATE_LIMIT_MAX_KEYS,
      argon2QueueLimit: v.TESSERA_ARGON2_QUEUE_LIMIT,
      corsOrigins: v.TESSERA_CORS_ORIGINS
    }
  }
}
