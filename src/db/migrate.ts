/**
 * tessera's own migrator. Its bookkeeping lives in `tessera_migrations` (what was applied, when)
 * and `tessera_migrations_lock` (the row every migrator queues on), never in Kysely's default
 * `kysely_migration`, so that an application using Kysely's Migrator on the same database keeps
 * its own history. It looks only at tessera's own tables: no introspection of the rest of a
 * database that it may share.
 *
 * All pending migrations run in one transaction, on SQLite and PostgreSQL alike (both have
 * transactional DDL): a migration that fails leaves the database exactly as it was. Several
 * processes may migrate at once (instances starting together): the first takes the lock (SQLite's
 * write lock, a PostgreSQL advisory lock and the lock row), the others wait and find nothing to do.
 */
import { sql, type Kysely } from 'kysely'
import { migrations } from '../../migrations/index.js'
import { isPostgres, tableExists } from '../../migrations/dialect.js'
import { describeDatabaseError, openDatabase } from './database.js'
import type { Tables } from './schema.js'

const HISTORY = 'tessera_migrations'

/** A database with migrations still to apply, where tessera may not apply them. */
export class NotMigratedError extends Error {
  constructor (readonly database: string, readonly pending: string[], howToMigrate: string) {
    super(`the database ${database} is not migrated (pending: ${pending.join(', ')}): ${howToMigrate}`)
    this.name = 'NotMigratedError'
  }
}

/**
 * Applies every pending migration and returns their names.
 * @throws {Error} naming the failing migration and its cause; nothing of that run is kept.
 */
export async function migrateToLatest (kysely: Kysely<Tables>, options: { onWarning?: (warning: string) => void } = {}): Promise<string[]> {
  const postgres = isPostgres(kysely)
  if (postgres) await checkSchema(kysely)
  return await kysely.connection().execute(async (db) => {
    await sql.raw(postgres ? 'BEGIN' : 'BEGIN IMMEDIATE').execute(db)
    try {
      // Serialises creating the bookkeeping tables, which IF NOT EXISTS alone does not on PostgreSQL.
      if (postgres) await sql`SELECT pg_advisory_xact_lock(hashtext('tessera_migrations'))`.execute(db)
      await sql`CREATE TABLE IF NOT EXISTS tessera_migrations (name text PRIMARY KEY, applied_at bigint NOT NULL)`.execute(db)
      await sql`CREATE TABLE IF NOT EXISTS tessera_migrations_lock (id text PRIMARY KEY, is_locked integer NOT NULL)`.execute(db)
      await sql`INSERT INTO tessera_migrations_lock (id, is_locked) VALUES ('migrate', 0) ON CONFLICT DO NOTHING`.execute(db)
      await sql`UPDATE tessera_migrations_lock SET is_locked = 1 WHERE id = 'migrate'`.execute(db)
      const pending = pendingOf(await appliedNames(db))
      const warnings: string[] = []
      for (const [name, migration] of pending) {
        try {
          warnings.push(...((await migration.up(db)) ?? []).map((warning) => `${name}: ${warning}`))
        } catch (error) {
          throw new Error(`migration ${name} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
        }
        await sql`INSERT INTO tessera_migrations (name, applied_at) VALUES (${name}, ${Date.now()})`.execute(db)
      }
      await sql`UPDATE tessera_migrations_lock SET is_locked = 0 WHERE id = 'migrate'`.execute(db)
      await sql.raw('COMMIT').execute(db)
      for (const warning of warnings) options.onWarning?.(warning)
      return pending.map(([name]) => name)
    } catch (error) {
      await sql.raw('ROLLBACK').execute(db).catch(() => {})
      throw error
    }
  })
}

/** The names of the migrations not yet applied (all of them on a database tessera never touched). */
export async function pendingMigrations (kysely: Kysely<Tables>): Promise<string[]> {
  const applied = (await tableExists(kysely, HISTORY)) ? await appliedNames(kysely) : []
  return pendingOf(applied).map(([name]) => name)
}

async function appliedNames (db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM tessera_migrations`.execute(db)
  return rows.map((row) => row.name)
}

function pendingOf (applied: string[]): typeof migrations {
  const known = new Set(migrations.map(([name]) => name))
  const unknown = applied.filter((name) => !known.has(name))
  if (unknown.length > 0) {
    throw new Error(`the database was migrated by a newer tessera (unknown migrations: ${unknown.join(', ')}): upgrade tessera`)
  }
  const done = new Set(applied)
  return migrations.filter(([name]) => !done.has(name))
}

/** On PostgreSQL, tessera's tables go in the first existing schema of the search_path: there must be one. */
async function checkSchema (kysely: Kysely<Tables>): Promise<void> {
  const { rows } = await sql<{ schema: string | null }>`SELECT current_schema() AS schema`.execute(kysely)
  if ((rows[0]?.schema ?? null) === null) {
    throw new Error('no schema to create the tables in: none of the schemas on the search_path exists')
  }
}

/**
 * `npm run migrate` (and the CLI's `migrate`): opens the configured database, applies every
 * pending migration, closes it. For deployments that migrate as a separate step and start the
 * service with `TESSERA_MIGRATE_ON_START=false`.
 *
 * ```ts
 * const { applied } = await runMigrations(loadConfig())
 * console.log(applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`)
 * ```
 * @throws {Error} naming the database (never its password) when it cannot be reached or a migration fails.
 */
export async function runMigrations (config: { databaseUrl: string }): Promise<{ applied: string[], warnings: string[], database: string }> {
  const database = openDatabase(config.databaseUrl, { poolSize: 1 })
  const warnings: string[] = []
  try {
    const applied = await migrateToLatest(database.kysely, { onWarning: (warning) => warnings.push(warning) })
    return { applied, warnings, database: database.description }
  } catch (error) {
    throw describeDatabaseError(config.databaseUrl, error)
  } finally {
    await database.close()
  }
}
