import { Migrator, PostgresAdapter, sql, type Kysely, type MigrationResultSet } from 'kysely'
import type { Tables } from './schema.js'
import { describeDatabaseError, openDatabase } from './database.js'
import { migrations } from '../../migrations/index.js'

/**
 * Applies every pending migration. Returns the names applied; throws with the failing
 * migration's name and cause when one fails (the others of that run are rolled back where the
 * database allows it). On PostgreSQL several processes may run it at once (instances starting
 * together): the migrator holds an advisory lock in one transaction, and the later runners find
 * nothing to do. Kysely takes no such lock on SQLite: there, migrate from one process at a time.
 */
export async function migrateToLatest (kysely: Kysely<Tables>): Promise<string[]> {
  const migrator = await migratorFor(kysely)
  const { error, results }: MigrationResultSet = await migrator.migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName
    // Before any migration ran (the database unreachable, the bookkeeping tables not creatable).
    if (failed === undefined) throw error
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName)
}

/** The names of the migrations not yet applied to the database (all of them on an empty one). */
export async function pendingMigrations (kysely: Kysely<Tables>): Promise<string[]> {
  const known = await (await migratorFor(kysely)).getMigrations()
  return known.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name)
}

async function migratorFor (kysely: Kysely<Tables>): Promise<Migrator> {
  return new Migrator({
    db: kysely,
    provider: { getMigrations: async () => migrations },
    migrationTableSchema: await migrationTableSchema(kysely)
  })
}

/**
 * Where the migration bookkeeping tables live: on PostgreSQL, the schema our own tables are
 * created in (the first existing schema on the `search_path`). Named explicitly because Kysely,
 * when left to guess, looks for `kysely_migration` in *every* schema of the database: another
 * application's (or another tessera's) migrations in a neighbouring schema would make it skip
 * creating its own table and then fail to find it.
 */
async function migrationTableSchema (kysely: Kysely<Tables>): Promise<string | undefined> {
  if (!(kysely.getExecutor().adapter instanceof PostgresAdapter)) return undefined
  const { rows } = await sql<{ schema: string | null }>`SELECT current_schema() AS schema`.execute(kysely)
  const schema = rows[0]?.schema ?? null
  if (schema === null) {
    throw new Error('no schema to create the tables in: none of the schemas on the search_path exists')
  }
  return schema
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
export async function runMigrations (config: { databaseUrl: string }): Promise<{ applied: string[], database: string }> {
  const database = openDatabase(config.databaseUrl, { poolSize: 1 })
  try {
    return { applied: await migrateToLatest(database.kysely), database: database.description }
  } catch (error) {
    throw describeDatabaseError(config.databaseUrl, error)
  } finally {
    await database.close()
  }
}
