/**
 * How a CLI command reaches the data: the same configuration as the server (`loadConfig`, so the
 * same `DATABASE_URL` and settings), the database opened directly, and tessera built by the same
 * composition root as the plugin's (`createTessera`), without a Fastify app. The database is
 * always closed when the command ends.
 *
 * The drivers, argon2 and friends are imported when a command first needs them, so that
 * `--help` and usage errors answer at once.
 */
import type { Tessera } from '../tessera.js'
import type { BuiltinUsers } from '../users/builtin/store.js'
import { ConfigError, loadConfig, type Config } from '../config.js'
import type { Database } from '../db/database.js'
import { CliError, type Io } from './io.js'

/** The configuration, or a one-line `CliError` naming every bad variable. */
export function configFrom (io: Io): Config {
  try {
    return loadConfig(io.env)
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`invalid configuration: ${error.problems.join('; ')}`)
    throw error
  }
}

export interface DatabaseContext {
  config: Config
  database: Database
}

/** Opens the configured database for `fn`, and closes it afterwards whatever happens. */
export async function withDatabase<T> (io: Io, fn: (context: DatabaseContext) => Promise<T>): Promise<T> {
  const config = configFrom(io)
  const { describeUrl, openDatabase } = await import('../db/database.js')
  let database: Database
  try {
    database = openDatabase(config.databaseUrl, { poolSize: 2 })
  } catch (error) {
    throw new CliError(`cannot open the database ${describeUrl(config.databaseUrl)}: ${reason(error)}`)
  }
  try {
    return await fn({ config, database })
  } finally {
    await database.close()
  }
}

export interface TesseraContext extends DatabaseContext {
  tessera: Tessera
  /** The CLI works on tessera's own users (by username). */
  users: BuiltinUsers
}

/**
 * Opens the database for `fn` with tessera on it, after checking that its schema is up to date:
 * the CLI never migrates behind an operator's back (that is `tessera migrate`'s job).
 */
export async function withTessera<T> (io: Io, fn: (context: TesseraContext) => Promise<T>): Promise<T> {
  return await withDatabase(io, async ({ config, database }) => {
    const [{ pendingMigrations }, { createTessera }, { pino }] = await Promise.all([
      import('../db/migrate.js'), import('../tessera.js'), import('pino')
    ])
    let pending: string[]
    try {
      pending = await pendingMigrations(database.kysely)
    } catch (error) {
      throw new CliError(`cannot reach the database ${database.description}: ${reason(error)}`)
    }
    if (pending.length > 0) {
      throw new CliError(`the database ${database.description} is not migrated (${pending.length} pending migration(s)): run \`tessera migrate\` first`)
    }
    const tessera = createTessera({
      database,
      settings: config.settings,
      // tessera logs only a listener that failed or a write it could not make: nothing a person needs beyond the error itself.
      // On the command's stderr, not file descriptor 2: `run` writes only to the streams it is given.
      log: pino({ level: 'error', base: null }, io.stderr)
    })
    return await fn({ config, database, tessera, users: tessera.builtinUsers! })
  })
}

export function reason (error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reason(error.errors[0])
  if (error instanceof Error) return error.message === '' ? error.name : error.message
  return String(error)
}
