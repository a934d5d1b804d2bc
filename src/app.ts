/**
 * The tessera service as a Fastify app: the plugin on its own database, plus `/healthz`.
 * Built without listening, so that tests can `inject` into it; `server.ts` listens.
 */
import sensible from '@fastify/sensible'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { sql } from 'kysely'
import type { Config } from './config.js'
import { openDatabase } from './db/database.js'
import tessera from './plugin.js'
import { ErrorResponse } from './routes/schemas.js'

/** Large enough for any valid tessera request (a 1024-character password is at most 4 KiB). */
export const BODY_LIMIT_BYTES = 16 * 1024

/** Where secrets could appear in a log line; pino replaces them with `[Redacted]`. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token'
]

export interface BuildOptions {
  /** Overrides the logger built from `config.logLevel` (tests pass a stream or `false`). */
  logger?: FastifyServerOptions['logger']
}

export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel, redact: REDACTED_PATHS },
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.trustProxy,
    // A malformed session id of any length gets its 400 from the schema, not a 414 from the router.
    maxParamLength: 16 * 1024,
    // Node answers 431 past 16 KiB of headers before Fastify sees them; a 10 KiB header is served.
    requestTimeout: 30_000
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(sensible)
  const database = openDatabase(config.databaseUrl, { poolSize: config.dbPoolSize })
  app.addHook('onClose', async () => await database.close())
  await app.register(tessera, { ...config.settings, database, migrate: config.migrateOnStart })

  app.get('/healthz', {
    schema: {
      summary: 'Liveness with a real database round trip',
      tags: ['health'],
      response: { 200: Type.Object({ status: Type.Literal('ok') }), 503: ErrorResponse }
    }
  }, async () => {
    try {
      await sql`SELECT 1`.execute(database.kysely)
    } catch (error) {
      app.log.error({ err: error }, 'health check: database unreachable')
      throw app.httpErrors.serviceUnavailable('The database is not reachable.')
    }
    return { status: 'ok' as const }
  })

  return app
}
