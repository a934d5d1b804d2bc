/**
 * The tessera service as a Fastify app: the plugin on its own database, plus `/healthz`.
 * Built without listening, so that tests can `inject` into it; `server.ts` listens.
 */
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyLoggerOptions, type FastifyServerOptions } from 'fastify'
import { sql } from 'kysely'
import { pino, type DestinationStream } from 'pino'
import type { Config } from './config.js'
import { openDatabase } from './db/database.js'
import { isDatabaseUnavailable } from './db/errors.js'
import { DatabaseHealth } from './health.js'
import type { MetricsSink } from './metrics/sink.js'
import openapi from './openapi.js'
import tessera from './plugin.js'
import { ApiError } from './error-codes.js'
import { answerClientError, answerError, answerNotFound } from './http/errors.js'
import { errorAnswer } from './http/schemas.js'
import { noSniff } from './http/security-headers.js'
import { RequestLog, requestLogger } from './request-log.js'
import { TEST_KIT, type TestKitGrant } from './testing/grant.js'
import type { Clock } from './time.js'

/** Large enough for any valid tessera request (a 1024-character password is at most 4 KiB). */
export const BODY_LIMIT_BYTES = 16 * 1024

/**
 * Where secrets could appear in a log line; pino replaces them with `[Redacted]`.
 * The request log's lines carry neither headers, bodies nor URLs (`request-log.ts`), so these guard
 * against whatever else gets logged: a handler or hook logging `request.headers` or a body, an
 * error carrying the request, an embedder's serializers.
 */
export const REDACTED_PATHS = [
  // Headers, under Fastify's `req`/`res` keys and as a logged `headers` object, at the top or one level down.
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'headers["set-cookie"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["proxy-authorization"]',
  '*.headers["set-cookie"]',
  'authorization',
  // Credentials by name, in a logged body or object, at the top or one level down.
  'password',
  'currentPassword',
  'newPassword',
  'token',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token'
]

/** The service's logger: pino at `LOG_LEVEL`, with secrets redacted. */
export function loggerOptions (config: Pick<Config, 'logLevel'>): FastifyLoggerOptions & { redact: { paths: string[], censor: string } } {
  return { level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[Redacted]' } }
}

/**
 * Standard output as the service's log destination: pino's asynchronous destination, so that a
 * request never waits for its log line to be written. Lines are written 4 KB at a time (one
 * write per ~20 request lines: a write per line cost about a tenth of a busy server's CPU), and at
 * least every quarter of a second, so that a quiet server's lines still show at once.
 */
export function logDestination (): ReturnType<typeof pino.destination> {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 })
}

/**
 * The logger of `tessera serve`: `loggerOptions` writing to `logDestination`. `serve` flushes it
 * on shutdown and on a crash (pino also flushes it synchronously when the process exits).
 */
export function serviceLogger (
  config: Pick<Config, 'logLevel'>, destination: DestinationStream = logDestination()
): FastifyLoggerOptions {
  return { ...loggerOptions(config), stream: destination }
}

/** A client's `X-Request-Id` is kept (to follow a request across services) only when it is short and plain. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Every request's id: the caller's `X-Request-Id` if it is sane, a new UUID otherwise. */
export function requestId (request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * Fastify's `trustProxy` for `config.trustProxy`. A hop count becomes a trust function: Fastify 5
 * turns a bare number into "trust nothing", since the count alone cannot tell a proxy from a
 * client that reaches the service directly (the README says when a count is safe).
 */
export function trustProxyOption (trustProxy: Config['trustProxy']): FastifyServerOptions['trustProxy'] {
  if (typeof trustProxy !== 'number') return trustProxy
  const hops = trustProxy
  return (_address: string, hop: number) => hop < hops
}

export interface BuildOptions {
  /** Overrides the logger built from `config.logLevel` (tests pass a stream or `false`). */
  logger?: FastifyServerOptions['logger']
  /** The monotonic clock, in ms, of `/healthz`'s freshness (tests pass their own); default `performance.now`. */
  now?: () => number
  /** The plugin's `clock`: the current time in ms since the epoch (tests pass their own); default `Date.now`. */
  clock?: Clock
}

/** Prometheus metrics at `GET /metrics` (`TESSERA_METRICS=true`), on the service's port or their own. */
async function withMetrics (app: FastifyInstance, config: Config): Promise<MetricsSink> {
  const [{ PrometheusMetrics }, { default: metricsPlugin }] = await Promise.all([import('./metrics/prometheus.js'), import('./metrics/serve.js')])
  const metrics = new PrometheusMetrics()
  await app.register(metricsPlugin, { metrics, port: config.metricsPort, host: config.host })
  return metrics
}

export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  return await buildAppWith(config, options)
}

/**
 * `buildApp`, and for the test kit (src/testing/) alone: on the database its grant names, with the
 * test password cost. Not exported from the package's entry points.
 */
export async function buildAppWith (config: Config, options: BuildOptions, grant?: TestKitGrant): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? serviceLogger(config),
    // One line per completed request (`request-log.ts`), each log line of a request carrying its id
    // as `reqId`; the response echoes it as X-Request-Id.
    logController: new RequestLog(),
    childLoggerFactory: requestLogger,
    genReqId: requestId,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: trustProxyOption(config.trustProxy),
    // A malformed session id of any length gets its 400 from the schema, not a 414 from the router.
    routerOptions: { maxParamLength: 16 * 1024 },
    // A URL the router cannot decode (`/auth/tokens/%zz`), and bytes Node's parser refuses, are
    // answered in tessera's shape too, with a code, rather than with Fastify's `FST_ERR_BAD_URL`.
    frameworkErrors: answerError,
    clientErrorHandler: answerClientError,
    // Node answers 431 past 16 KiB of headers before Fastify sees them; a 10 KiB header is served.
    requestTimeout: 30_000
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  // First, so that every route, every scope registered below and the 404 handler send it.
  noSniff(app)
  // Every error of the service in tessera's shape, with its code: /healthz's, /docs', a 404's.
  app.setErrorHandler(answerError)
  app.setNotFoundHandler(answerNotFound)
  // Loaded only when on: off, metrics cost nothing, not even prom-client's loading.
  const metrics = config.metrics ? await withMetrics(app, config) : undefined
  // Before any route, so that every route's schema makes it into the document.
  await app.register(openapi, { requestIds: true })
  const database = grant?.database ?? openDatabase(config.databaseUrl, { poolSize: config.dbPoolSize, tokenCacheSize: config.tokenCacheSize, groupCommit: config.groupCommit })
  app.addHook('onClose', async () => await database.close())
  const health = new DatabaseHealth(async () => await sql`SELECT 1`.execute(database.kysely), { now: options.now })
  // Before the plugin, so that its routes have it: an outage any request runs into makes the next probe ask.
  app.addHook('onError', (_request, _reply, error, done) => {
    if (isDatabaseUnavailable(error)) health.failed()
    done()
  })
  try {
    await app.register(tessera, { ...config.settings, database, migrate: config.migrateOnStart, metrics, clock: options.clock, ...(grant === undefined ? {} : { [TEST_KIT]: grant }) })
  } catch (error) {
    // The app never got to close: close what it opened.
    await database.close()
    throw error
  }

  app.get('/healthz', {
    schema: {
      operationId: 'healthz',
      summary: 'Liveness: the database answered within the last second (else it is asked)',
      tags: ['health'],
      security: [],
      response: {
        200: Type.Object({ status: Type.Literal('ok') }, { description: 'The service and its database are up' }),
        // Its only client error, as on any route: oversized headers are refused before any route is chosen.
        431: errorAnswer('The request headers are larger than 16 KiB (answered before routing, without X-Request-Id)'),
        503: errorAnswer('The database is not reachable')
      }
    }
  }, async () => {
    try {
      await health.check()
    } catch (error) {
      app.log.error({ err: error }, 'health check: database unreachable')
      metrics?.databaseError(error)
      throw new ApiError('DATABASE_UNAVAILABLE', 'The database is not reachable.')
    }
    return { status: 'ok' as const }
  })

  return app
}
