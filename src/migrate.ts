/**
 * `npm run migrate`: apply every pending migration to the configured `DATABASE_URL` and exit,
 * without starting the server. For deployments that migrate as a separate step before starting
 * the instances with `TESSERA_MIGRATE_ON_START=false`.
 */
import { ConfigError, loadConfig } from './config.js'
import { runMigrations } from './db/migrate.js'

async function main (): Promise<void> {
  const { applied, database } = await runMigrations(loadConfig())
  process.stdout.write(applied.length === 0
    ? `${database}: already up to date\n`
    : `${database}: applied ${applied.join(', ')}\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error)
    process.stderr.write(`tessera: ${message}\n`)
    process.exit(1)
  })
}
