/**
 * The service's lifecycle, for `tessera serve` (and so `npm start`): build the app (applying
 * pending migrations unless `TESSERA_MIGRATE_ON_START=false`, else checking that none is pending),
 * listen, and close gracefully on SIGINT/SIGTERM: stop accepting connections, let in-flight
 * requests finish, close the database, exit 0. A second signal, or requests still running after
 * `GRACE_MS`, exit 1. An uncaught exception or unhandled rejection is logged and closes the same
 * way, exiting 1. The log is written asynchronously (`serviceLogger`): it is flushed before exiting,
 * and the crash's line before anything else is attempted.
 */
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { buildApp, logDestination, serviceLogger } from './app.js'
import type { Config } from './config.js'
import { describeDatabaseError, describeUrl } from './db/database.js'
import { NotMigratedError } from './db/migrate.js'

/** How long in-flight requests get to finish after a shutdown signal. */
export const GRACE_MS = 10_000

type Destination = ReturnType<typeof pino.destination>

/** Writes out the log lines still buffered, at once (the process may be about to exit). */
function flushNow (destination: Destination): void {
  try {
    destination.flushSync()
  } catch {
    // A log that cannot be written (a closed pipe) must not stand in the way of exiting.
  }
}

/**
 * Writes out the log lines still buffered, in order, and ends the log, just before the process
 * exits (`flush` cannot wait for a write under way: it returns at once on this destination).
 * Gives up after a second, for a destination that can no longer be written (a closed pipe).
 */
async function ended (destination: Destination): Promise<void> {
  await new Promise<void>((resolve) => {
    setTimeout(resolve, 1000).unref()
    destination.once('close', () => resolve())
    destination.end()
  })
}

/** Resolves once listening; the process then lives until a signal closes it. */
export async function serve (config: Config): Promise<void> {
  let app: FastifyInstance
  const destination = logDestination()
  try {
    // Migrating at start proves the database reachable and current; without it, the plugin checks
    // both, so that a wrong host or a forgotten `npm run migrate` stops startup, not the first requests.
    app = await buildApp(config, { logger: serviceLogger(config, destination) })
  } catch (error) {
    if (error instanceof NotMigratedError) {
      throw new Error(`the database ${describeUrl(config.databaseUrl)} is not migrated (pending: ${error.pending.join(', ')}): ` +
        'run `npm run migrate` first, or start with TESSERA_MIGRATE_ON_START=true', { cause: error })
    }
    throw describeDatabaseError(config.databaseUrl, error)
  }
  const grace = closeWithGrace({ delay: GRACE_MS, logger: app.log }, async ({ signal, err }) => {
    if (err !== undefined) {
      app.log.error({ err }, 'shutting down after an error')
      // Out before closing, which may never finish after a crash.
      flushNow(destination)
    } else {
      app.log.info({ signal }, 'shutting down: no new connections, waiting for in-flight requests')
    }
    try {
      await app.close()
      app.log.info('closed: every request answered, database closed')
    } finally {
      await ended(destination)
    }
  })
  let address: string
  try {
    address = await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    grace.uninstall()
    await app.close()
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
  // One line for whoever reads the log first: where the service is, on which database (a
  // description, never a password) and where its docs are; as fields too, for log tools.
  const database = app.tessera.database.description
  const docs = `${address}/docs`
  app.log.info({ address, database, docs }, `tessera is up at ${address} on the database ${database}; API docs at ${docs}`)
}
