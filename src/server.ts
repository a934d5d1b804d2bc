/**
 * The service's lifecycle, for `tessera serve` (and so `npm start`): build the app (applying
 * pending migrations unless `TESSERA_MIGRATE_ON_START=false`, else checking that none is pending),
 * listen, and close gracefully on SIGINT/SIGTERM: stop accepting connections, let in-flight
 * requests finish, close the database, exit 0. A second signal, or requests still running after
 * `GRACE_MS`, exit 1.
 */
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import type { Config } from './config.js'
import { describeDatabaseError, describeUrl } from './db/database.js'
import { NotMigratedError } from './db/migrate.js'

/** How long in-flight requests get to finish after a shutdown signal. */
export const GRACE_MS = 10_000

/** Resolves once listening; the process then lives until a signal closes it. */
export async function serve (config: Config): Promise<void> {
  let app: FastifyInstance
  try {
    // Migrating at start proves the database reachable and current; without it, the plugin checks
    // both, so that a wrong host or a forgotten `npm run migrate` stops startup, not the first requests.
    app = await buildApp(config)
  } catch (error) {
    if (error instanceof NotMigratedError) {
      throw new Error(`the database ${describeUrl(config.databaseUrl)} is not migrated (pending: ${error.pending.join(', ')}): ` +
        'run `npm run migrate` first, or start with TESSERA_MIGRATE_ON_START=true', { cause: error })
    }
    throw describeDatabaseError(config.databaseUrl, error)
  }
  const grace = closeWithGrace({ delay: GRACE_MS, logger: app.log }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down: no new connections, waiting for in-flight requests')
    await app.close()
    app.log.info('closed: every request answered, database closed')
  })
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    grace.uninstall()
    await app.close()
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
}
