/**
 * `npm run migrate`: apply every pending migration to the configured `DATABASE_URL` and exit,
 * without starting the server. For deployments that migrate as a separate step before starting
 * the instances with `TESSERA_MIGRATE_ON_START=false`.
 */
import { ConfigError, loadConfig } from './config.js'
import { runMigrations } from './db/migrate.js'

type Env = Record<string, string | undefined>

/** Runs the command against `env`; writes a one-line report or error and returns the exit code. */
export async function migrateCommand (env: Env, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  try {
    const { applied, database } = await runMigrations(loadConfig(env))
    out.write(applied.length === 0 ? `${database}: already up to date\n` : `${database}: applied ${applied.join(', ')}\n`)
    return 0
  } catch (error) {
    err.write(`tessera: ${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await migrateCommand(process.env, process.stdout, process.stderr)
}
