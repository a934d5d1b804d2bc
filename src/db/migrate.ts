import { Migrator, type Kysely, type MigrationResultSet } from 'kysely'
import type { Tables } from './schema.js'
import { migrations } from '../../migrations/index.js'

/**
 * Applies every pending migration. Returns the names applied; throws with the failing
 * migration's name and cause when one fails (the others of that run are rolled back where the
 * database allows it).
 */
export async function migrateToLatest (kysely: Kysely<Tables>): Promise<string[]> {
  const migrator = new Migrator({
    db: kysely,
    provider: { getMigrations: async () => migrations }
  })
  const { error, results }: MigrationResultSet = await migrator.migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown'
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName)
}

/**
 * The names of the migrations not yet applied (all of them on an empty database), without
 * applying or creating anything: the CLI refuses to work on a schema that is not up to date.
 */
export async function pendingMigrations (kysely: Kysely<Tables>): Promise<string[]> {
  const migrator = new Migrator({ db: kysely, provider: { getMigrations: async () => migrations } })
  return (await migrator.getMigrations()).filter((info) => info.executedAt === undefined).map((info) => info.name)
}
