/**
 * The composition root: the one place where tessera's parts are built and wired — the token
 * service, the user store (the application's, or the built-in one), passwords, events. The
 * Fastify plugin and the CLI both build tessera through `createTessera`, so a change made from the
 * command line follows the same rules, and emits the same events, as one made over HTTP.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ActivityLog } from './activity/log.js'
import type { Database } from './db/database.js'
import { TesseraEmitter } from './events.js'
import type { AppUser } from './index.js'
import type { MetricsSink } from './metrics/sink.js'
import type { TesseraSettings } from './settings.js'
import type { Clock } from './time.js'
import { TokenFormat } from './tokens/format.js'
import { TokenService } from './tokens/service.js'
import { Passwords, type PasswordCost } from './users/builtin/passwords.js'
import { BuiltinUsers } from './users/builtin/store.js'
import type { TesseraUser } from './users/builtin/user.js'
import type { UserStore } from './users/store.js'

/** What `app.tessera` holds. */
export interface Tessera {
  readonly settings: Readonly<TesseraSettings>
  readonly events: TesseraEmitter
  readonly database: Database
  /** Each subject's security events, as they read them back. */
  readonly activity: ActivityLog
  /** Issue, verify, revoke, list and sweep tokens. */
  readonly tokens: TokenService<AppUser>
  /** The user store in use: the application's own, or the built-in one. */
  readonly users: UserStore<AppUser>
  /** The built-in store's accounts operations (register, password change, …); `undefined` when the application brings its users. */
  readonly builtinUsers: BuiltinUsers | undefined
  /** The format of this deployment's tokens (its prefix). */
  readonly format: TokenFormat
  /** Where tessera's parts report what they do, when metrics are on (`TESSERA_METRICS`). */
  readonly metrics: MetricsSink | undefined
  /** Where tessera reads the time: the plugin's `clock` option, `Date.now` by default. */
  readonly clock: Clock
}

export interface TesseraParts {
  database: Database
  settings: Readonly<TesseraSettings>
  log: FastifyBaseLogger
  /** The application's users; without them, the built-in store. */
  users?: UserStore<AppUser> | undefined
  /** Metrics to report to (the service's, with `TESSERA_METRICS=true`); none by default. */
  metrics?: MetricsSink | undefined
  /** The built-in store's argon2 cost; `test` only for the test kit, which the plugin checks (src/testing/grant.ts). */
  passwordCost?: PasswordCost
  /** The current time in ms since the epoch (default `Date.now`; tests inject their own). */
  clock?: Clock | undefined
}

export function createTessera ({ database, settings, log, users, metrics, passwordCost, clock = Date.now }: TesseraParts): Tessera {
  const events = new TesseraEmitter()
  const format = new TokenFormat(settings.tokenPrefix)
  const activity = new ActivityLog(database.kysely, clock)
  const tokenCache = database.tokenLookup.cacheCounts
  if (users !== undefined) {
    const tokens = new TokenService<AppUser>({ database, settings, users, format, events, log, activity, metrics, clock })
    metrics?.attach({ events, tokenCache, argon2Queue: undefined })
    return { settings, events, database, activity, tokens, users, builtinUsers: undefined, format, metrics, clock }
  }
  const passwords = new Passwords({
    queueLimit: settings.argon2QueueLimit,
    cost: passwordCost,
    ...(metrics === undefined ? {} : { onWait: (seconds: number) => metrics.argon2Wait(seconds) })
  })
  const builtinUsers = new BuiltinUsers({ database, passwords, events, log, activity, clock })
  const tokens = new TokenService<TesseraUser>({
    database, settings, users: builtinUsers, format, events, log, activity, usersInDatabase: true, userJoin: builtinUsers.tokenJoin, metrics, clock
  })
  builtinUsers.useTokens(tokens)
  metrics?.attach({ events, tokenCache, argon2Queue: passwords })
  // Without an application's declaration, AppUser is TesseraUser; with one, the built-in store is not in use.
  return {
    settings,
    events,
    database,
    activity,
    tokens: tokens as unknown as TokenService<AppUser>,
    users: builtinUsers as unknown as UserStore<AppUser>,
    builtinUsers,
    format,
    metrics,
    clock
  }
}
