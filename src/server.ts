/**
 * `npm start`: read the configuration, apply pending migrations (unless
 * `TESSERA_MIGRATE_ON_START=false`) or else check that none is pending, listen; close gracefully on
 * SIGINT/SIGTERM (stop accepting, finish in-flight requests, close the database, exit 0).
 */
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { describeDatabaseError, describeUrl } from './db/database.js'
import { pendingMigrations } from './db/migrate.js'

/** How long in-flight requests get to finish after a shutdown signal. */
const GRACE_MS = 10_000

export async function serve (config: Config): Promise<void> {
  let app: FastifyInstance | undefined
  let pending: string[] = []
  try {
    app = await buildApp(config)
    // Migrating at start proved the database reachable and current; without it, check both here,
    // so that a wrong host or a forgotten `npm run migrate` stops startup, not the first requests.
    if (!config.migrateOnStart) pending = await pendingMigrations(app.tessera.database.kysely)
  } catch (error) {
    await app?.close()
    throw describeDatabaseError(config.databaseUrl, error)
  }
  if (pending.length > 0) {
    await app.close()
    throw new Error(`the database ${describeUrl(config.databaseUrl)} is not migrated (pending: ${pending.join(', ')}): ` +
      'run `npm run migrate` first, or start with TESSERA_MIGRATE_ON_START=true')
  }
  closeWithGrace({ delay: GRACE_MS }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  await app.listen({ port: config.port, host: config.host })
}

function fail (error: unknown): never {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error)
  process.stderr.write(`tessera: ${message}\n`)
  process.exit(1)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let config: Config
  try {
    config = loadConfig()
  } catch (error) {
    fail(error)
  }
  serve(config).catch(fail)
}
