/**
 * How a CLI command reaches the data: the same configuration as the server (`loadConfig`, so the
 * same `DATABASE_URL` and settings), the database opened directly, and `Accounts` built without
 * a Fastify app. The database is always closed when the command ends.
 *
 * The drivers, argon2 and friends are imported when a command first needs them, so that
 * `--help` and usage errors answer at once.
 */
import type { Accounts } from '../tokens/service.js'
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

export interface Session {
  config: Config
  database: Database
}

/** Opens the configured database for `fn`, and closes it afterwards whatever happens. */
export async function withDatabase<T> (io: Io, fn: (session: Session) => Promise<T>): Promise<T> {
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

export interface AccountsSession extends Session {
  accounts: Accounts
}

/**
 * Opens the database for `fn` with `Accounts` on it, after checking that its schema is up to
 * date: the CLI never migrates behind an operator's back (that is `tessera migrate`'s job).
 */
export async function withAccounts<T> (io: Io, fn: (session: AccountsSession) => Promise<T>): Promise<T> {
  return await withDatabase(io, async ({ config, database }) => {
    const [{ pendingMigrations }, { Accounts }, { Passwords }, { TokenFormat }, { TesseraEmitter }, { pino }] = await Promise.all([
      import('../db/migrate.js'), import('../tokens/service.js'), import('../users/builtin/passwords.js'),
      import('../tokens/format.js'), import('../events.js'), import('pino')
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
    const settings = config.settings
    const accounts = new Accounts({
      db: database.kysely,
      settings,
      passwords: new Passwords(),
      format: new TokenFormat(settings.tokenPrefix),
      // Nobody listens to a CLI process's events; the server's listeners are in another process.
      events: new TesseraEmitter(),
      // Accounts logs only a listener that threw: nothing a person needs beyond the error itself.
      log: pino({ level: 'error', base: null }, pino.destination({ fd: 2, sync: true }))
    })
    return await fn({ config, database, accounts })
  })
}

export function reason (error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reason(error.errors[0])
  if (error instanceof Error) return error.message === '' ? error.name : error.message
  return String(error)
}
