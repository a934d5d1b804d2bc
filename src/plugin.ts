/**
 * The tessera Fastify plugin:
 *
 * ```ts
 * await app.register(tessera, { databaseUrl: 'sqlite:./data/app.db', tokenTtl: 3_600_000 })
 * app.get('/orders', { preHandler: app.authenticate }, async (request) => listOrders(request.user!.id))
 * ```
 *
 * It adds the `/auth` routes, decorates `app.authenticate` (a preHandler that answers 401 or sets
 * `request.user` and `request.authToken`) and `app.tessera` (settings, events, the database, and
 * the operations the CLI uses).
 */
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import sensible from '@fastify/sensible'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Accounts } from './tokens/service.js'
import { createAuthenticate, type AuthToken } from './http/authenticate.js'
import { Passwords } from './users/builtin/passwords.js'
import { TokenFormat } from './tokens/format.js'
import type { TesseraUser } from './users/builtin/user.js'
import { openDatabase, type Database } from './db/database.js'
import { migrateToLatest } from './db/migrate.js'
import { TesseraEmitter } from './events.js'
import { DatabaseUnavailableError, isDatabaseUnavailable } from './db/errors.js'
import authRoutes, { type AuthRouteOptions } from './http/auth-routes.js'
import { limitBy, registerRateLimits } from './http/rate-limits.js'
import sessionRoutes from './http/session-routes.js'
import { noStore } from './http/security-headers.js'
import { DEFAULT_SETTINGS, settingsProblems, type TesseraSettings } from './settings.js'

export interface TesseraOptions extends Partial<TesseraSettings> {
  /** An open database (see `openDatabase`); the caller closes it. */
  database?: Database
  /** Or a `DATABASE_URL` for the plugin to open, and close when the app closes. */
  databaseUrl?: string
  /** Apply pending migrations while registering (default true). */
  migrate?: boolean
  /** Where the auth routes live (default `/auth`). */
  routePrefix?: string
}

/** What `app.tessera` holds. */
export interface Tessera {
  readonly settings: Readonly<TesseraSettings>
  readonly events: TesseraEmitter
  readonly database: Database
  readonly accounts: Accounts
}

export type AuthenticateHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** A preHandler: 401 with `WWW-Authenticate: Token`, or `request.user` and `request.authToken` set. */
    authenticate: AuthenticateHook
    tessera: Tessera
  }
  interface FastifyRequest {
    /** The authenticated user; `null` on routes that do not run `authenticate`. */
    user: TesseraUser | null
    /** The token this request was authenticated with. */
    authToken: AuthToken | null
  }
}

async function tessera (fastify: FastifyInstance, options: TesseraOptions): Promise<void> {
  const { database: given, databaseUrl, migrate = true, routePrefix = '/auth', ...overrides } = options
  const settings: TesseraSettings = Object.freeze({ ...DEFAULT_SETTINGS, ...overrides })
  const problems = settingsProblems(settings)
  if (problems.length > 0) throw new Error(`tessera: invalid options: ${problems.join('; ')}`)
  if (given === undefined && databaseUrl === undefined) throw new Error('tessera: pass `database` or `databaseUrl`')

  const database = given ?? openDatabase(databaseUrl!)
  if (given === undefined) fastify.addHook('onClose', async () => await database.close())
  if (migrate) await migrateToLatest(database.kysely)

  const events = new TesseraEmitter()
  const format = new TokenFormat(settings.tokenPrefix)
  const passwords = new Passwords({ queueLimit: settings.argon2QueueLimit })
  await passwords.warmUp()
  const accounts = new Accounts({ db: database.kysely, settings, passwords, format, events, log: fastify.log })

  fastify.decorate('tessera', { settings, events, database, accounts })
  fastify.decorate('authenticate', createAuthenticate({ format, credentials: database.credentials, accounts }))
  fastify.decorateRequest('user', null)
  fastify.decorateRequest('authToken', null)

  if (settings.sweepInterval !== null) {
    const timer = setInterval(() => {
      accounts.sweepExpired().then(
        (deleted) => { if (deleted > 0) fastify.log.info({ deleted }, 'swept expired tokens') },
        (error: unknown) => fastify.log.error({ err: error }, 'sweeping expired tokens failed')
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
    scope.setErrorHandler(async (error, request) => {
      if (isDatabaseUnavailable(error)) {
        request.log.error({ err: error }, 'database unavailable')
        throw new DatabaseUnavailableError(error)
      }
      throw error
    })
    await scope.register(sensible)
    await registerRateLimits(scope)
    const routeOptions: AuthRouteOptions = {
      protect: [
        scope.authenticate,
        limitBy(scope, settings.tokenRateLimit, 'requests with this token', (request) => request.authToken!.id)
      ]
    }
    await scope.register(authRoutes, routeOptions)
    await scope.register(sessionRoutes, routeOptions)
  }, { prefix: routePrefix })
}

export default fp(tessera, { fastify: '5.x', name: 'tessera' })
