/**
 * The tessera Fastify plugin. On its own database, with its own users:
 *
 * ```ts
 * await app.register(tessera, { databaseUrl: 'sqlite:./data/app.db', tokenTtl: 3_600_000 })
 * app.get('/orders', { preHandler: app.authenticate }, async (request) => listOrders(request.user!.id))
 * ```
 *
 * Inside an application that has its users already (see `UserStore`):
 *
 * ```ts
 * await app.register(tessera, { database: openDatabase(appSqlite), users: { find, idOf, verifyCredentials } })
 * ```
 *
 * It adds the `/auth` routes, decorates `app.authenticate` (a preHandler that answers 401 or sets
 * `request.user` and `request.authToken`) and `app.tessera` (settings, events, the database, the
 * token service and the user store).
 */
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { openDatabase, type Database } from './db/database.js'
import { NotMigratedError, migrateToLatest, pendingMigrations } from './db/migrate.js'
import authRoutes, { usernameTried, type AuthRouteOptions } from './http/auth-routes.js'
import { createAuthenticate } from './http/authenticate.js'
import { allowOrigins } from './http/cors.js'
import { answerError, answerNotFound } from './http/errors.js'
import { limitBy } from './http/rate-limits.js'
import { requireScopes, type ScopeHook } from './http/scopes.js'
import introspectionRoutes from './http/introspection-routes.js'
import activityRoutes from './http/activity-routes.js'
import sessionRoutes from './http/session-routes.js'
import type { AppUser } from './index.js'
import type { MetricsSink } from './metrics/sink.js'
import { noStore } from './http/security-headers.js'
import { DEFAULT_SETTINGS, settingsProblems, type TesseraSettings } from './settings.js'
import { createTessera, type Tessera } from './tessera.js'
import { TEST_KIT, checkGrant, type TestKitGrant } from './testing/grant.js'
import { clockProblem, type Clock } from './time.js'
import type { AuthToken } from './tokens/service.js'
import { usernameKey } from './users/builtin/repository.js'
import builtinRoutes from './users/builtin/routes.js'
import type { UserStore } from './users/store.js'

export interface TesseraOptions extends Partial<TesseraSettings> {
  /** An open database (see `openDatabase`, which also takes your own better-sqlite3 `Database` or `pg.Pool`); you close it. */
  database?: Database
  /** Or a `DATABASE_URL` for the plugin to open, and close when the app closes. */
  databaseUrl?: string
  /**
   * Your application's users. Without it, tessera keeps its own (username + password, with
   * `/auth/register` and `/auth/password`).
   */
  users?: UserStore<AppUser>
  /** Apply pending migrations while registering (default true); false refuses an unmigrated database. */
  migrate?: boolean
  /** Where the auth routes live (default `/auth`). */
  routePrefix?: string
  /** The request property that holds the user (default `user`), for an application that has a `user` of its own. */
  decoratorName?: string
  /** The name of the instance's authenticate hook (default `authenticate`). */
  authenticateDecorator?: string
  /**
   * Where to report authentications, logins, rate-limit refusals, the argon2 queue, the token
   * cache and database errors (the service passes its Prometheus metrics with `TESSERA_METRICS=true`).
   */
  metrics?: MetricsSink
  /**
   * The current time, in whole ms since the epoch (default `Date.now`): what tessera reads for
   * issuing tokens, their expiry and sliding refresh, the revocation memory, the activity log,
   * users' timestamps, sweeps and the rate-limit windows. For tests, which move it forward instead
   * of waiting for a token to expire or a window to end:
   *
   * ```ts
   * let now = Date.now()
   * await app.register(tessera, { databaseUrl, tokenTtl: 60_000, clock: () => now })
   * now += 60_000 // every token issued so far has expired
   * ```
   *
   * Timers still run on real time: the periodic sweep fires every `sweepInterval` ms, and what it
   * deletes is what has expired by this clock. With the default, the rate limits keep their own
   * clocks (a monotonic one in memory, the database server's on PostgreSQL); with another, they
   * count windows on it.
   */
  clock?: Clock
}

export type AuthenticateHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** A preHandler: 401 with a code and a `WWW-Authenticate` challenge, or `request.user` and `request.authToken` set. */
    authenticate: AuthenticateHook
    /** A hook to put after `authenticate`: 403 unless the token holds every one of the scopes. */
    requireScopes: (...scopes: string[]) => ScopeHook
    tessera: Tessera
  }
  interface FastifyRequest {
    /** The authenticated user (your own type, through `TesseraTypes`); `null` on routes that do not authenticate. */
    user: AppUser | null
    /** The token this request was authenticated with. */
    authToken: AuthToken | null
  }
}

/** Refuses a decorator name the application already uses, saying which option renames tessera's. */
function checkFreeNames (fastify: FastifyInstance, authenticateName: string, userName: string): void {
  if (fastify.hasDecorator('tessera')) throw new Error('tessera: the plugin is already registered on this instance')
  if (fastify.hasDecorator(authenticateName)) {
    throw new Error(`tessera: the app already has a decorator named "${authenticateName}": ` +
      'pass `authenticateDecorator: \'<another name>\'` to register tessera\'s authenticate hook under another name')
  }
  for (const [name, option] of [[userName, 'decoratorName'], ['authToken', undefined]] as const) {
    if (fastify.hasRequestDecorator(name)) {
      throw new Error(`tessera: the app already has a request decorator named "${name}"` +
        (option === undefined ? '' : `: pass \`${option}: '<another name>'\` to put tessera's user under another name`))
    }
  }
}

/**
 * A route that takes no body (the logouts, a revocation) accepts an empty body sent as
 * `application/json`, as knox does: Dio and shared request builders send exactly that. A route
 * that takes a body still refuses an empty one (400 VALIDATION_FAILED).
 */
function acceptEmptyJsonWithoutBody (scope: FastifyInstance): void {
  const { onProtoPoisoning = 'error', onConstructorPoisoning = 'error' } = scope.initialConfig
  const parseJson = scope.getDefaultJsonParser(onProtoPoisoning, onConstructorPoisoning)
  scope.removeContentTypeParser('application/json')
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string // parseAs: 'string'
    if (text === '' && request.routeOptions.schema?.body === undefined) done(null, undefined)
    else parseJson(request, text, done)
  })
}

async function tessera (fastify: FastifyInstance, options: TesseraOptions): Promise<void> {
  // The test kit's grant is not an option of `TesseraOptions`: only the kit holds its key (see src/testing/grant.ts).
  const { [TEST_KIT]: grant, ...publicOptions } = options as TesseraOptions & { [TEST_KIT]?: TestKitGrant }
  const {
    database: given, databaseUrl, users, migrate = true, routePrefix = '/auth',
    decoratorName = 'user', authenticateDecorator = 'authenticate', metrics, clock = Date.now, ...overrides
  } = publicOptions
  const settings: TesseraSettings = Object.freeze({ ...DEFAULT_SETTINGS, ...overrides })
  const problems = settingsProblems(settings)
  const badClock = clockProblem(clock)
  if (badClock !== undefined) problems.push(badClock)
  if (users !== undefined && (typeof users.find !== 'function' || typeof users.idOf !== 'function')) {
    problems.push('users must have find(id) and idOf(user) functions')
  }
  if (problems.length > 0) throw new Error(`tessera: invalid options: ${problems.join('; ')}`)
  if (given === undefined && databaseUrl === undefined) throw new Error('tessera: pass `database` or `databaseUrl`')
  checkFreeNames(fastify, authenticateDecorator, decoratorName)

  const database = given ?? openDatabase(databaseUrl!)
  if (given === undefined) fastify.addHook('onClose', async () => await database.close())
  if (grant !== undefined) await checkGrant(grant, database)
  if (migrate) {
    await migrateToLatest(database.kysely, { onWarning: (warning) => fastify.log.warn(`tessera migration: ${warning}`) })
  } else {
    const pending = await pendingMigrations(database.kysely)
    if (pending.length > 0) {
      throw new NotMigratedError(database.description, pending, 'run `tessera migrate`, or register the plugin with `migrate: true`')
    }
  }
  if (database.cacheOffReason !== undefined) fastify.log.warn(`tessera runs without its token cache: ${database.cacheOffReason}`)

  const core = createTessera({ database, settings, log: fastify.log, users, metrics, clock, passwordCost: grant === undefined ? 'standard' : 'test' })
  await core.builtinUsers?.warmUp()

  fastify.decorate('tessera', core)
  fastify.decorate(authenticateDecorator, createAuthenticate(core.tokens, decoratorName, core.metrics))
  fastify.decorate('requireScopes', requireScopes)
  fastify.decorateRequest(decoratorName, null)
  fastify.decorateRequest('authToken', null)

  if (settings.sweepInterval !== null) {
    const timer = setInterval(() => {
      core.tokens.sweep().then(
        (deleted) => { if (deleted > 0) fastify.log.info({ deleted }, 'swept expired tokens') },
        (error: unknown) => {
          fastify.log.error({ err: error }, 'sweeping expired tokens failed')
          core.metrics?.databaseError(error)
        }
      )
    }, settings.sweepInterval)
    timer.unref()
    fastify.addHook('onClose', async () => clearInterval(timer))
  }

  await fastify.register(async (scope) => {
    noStore(scope)
    // Validate with TypeBox itself, whatever Ajv options the host app chose: no type coercion.
    scope.setValidatorCompiler(TypeBoxValidatorCompiler)
    // JSON in and out: anything else is 415, not a string for the schema to puzzle over.
    scope.removeContentTypeParser('text/plain')
    acceptEmptyJsonWithoutBody(scope)
    // tessera's shape for every error of its routes, whatever handler the application set for its own.
    scope.setErrorHandler(answerError)
    // …and for a path under the prefix that no route matches (at the root, that is the application's).
    if (routePrefix.replace(/\/+$/, '') !== '') scope.setNotFoundHandler(answerNotFound)
    // Before the routes' own hooks: a preflight is answered before any authentication, and every
    // answer to an allowed origin, a 401 or a 429 included, carries its CORS headers.
    await allowOrigins(scope, settings.corsOrigins)
    const authenticate = scope.getDecorator<typeof scope.authenticate>(authenticateDecorator)
    const protect = [authenticate, limitBy(scope, {
      name: 'token', rate: settings.tokenRateLimit, what: 'requests with this token', key: (request) => request.authToken!.id
    })]
    const routeOptions: AuthRouteOptions = {
      authenticate,
      protect,
      protectedBy: (needed) => [...protect, requireScopes(needed)],
      userDecorator: decoratorName,
      limitByUsername: limitBy(scope, {
        name: 'login-username',
        rate: settings.loginRateLimit,
        what: 'login attempts for this username',
        key: (request) => usernameKey(usernameTried(request, decoratorName))
      })
    }
    await scope.register(authRoutes, routeOptions)
    await scope.register(sessionRoutes, routeOptions)
    await scope.register(activityRoutes, routeOptions)
    await scope.register(introspectionRoutes, routeOptions)
    if (core.builtinUsers !== undefined) await scope.register(builtinRoutes, { ...routeOptions, builtinUsers: core.builtinUsers })
  }, { prefix: routePrefix })
}

export default fp(tessera, { fastify: '5.x', name: 'tessera' })
