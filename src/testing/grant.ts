/**
 * How the test kit, and nothing else, gets the test password cost (`TEST_ARGON2_OPTIONS`).
 *
 * The cost is not a setting: no environment variable and no plugin option names it. The kit
 * passes a grant to the plugin under `TEST_KIT`, a symbol that no public entry point of the
 * package exports, and the plugin honours it only when
 * - `NODE_ENV` is not `production`,
 * - the grant names the very database the plugin was given (an object the kit opened), and
 * - that database is a SQLite database the kit marked as its own (a row in `tessera_test_kit`,
 *   holding the grant's random id; no migration makes that table).
 * Anything else stops the plugin's registration with an error: a real deployment cannot get the
 * cost by accident, nor by copying a kit's database.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { Database } from '../db/database.js'

/** The key of the grant in the plugin's options. */
export const TEST_KIT = Symbol('tessera-auth test kit')

export interface TestKitGrant {
  /** The database the kit opened and marked. */
  readonly database: Database
  /** The random id the kit wrote into its mark. */
  readonly kitId: string
}

/** Marks a database the kit has just opened (and migrated) as its own; returns the grant for it. */
export async function grantFor (database: Database): Promise<TestKitGrant> {
  const kitId = randomUUID()
  await sql`CREATE TABLE tessera_test_kit (kit_id text PRIMARY KEY, created_at bigint NOT NULL)`.execute(database.kysely)
  await sql`INSERT INTO tessera_test_kit (kit_id, created_at) VALUES (${kitId}, ${Date.now()})`.execute(database.kysely)
  return { database, kitId }
}

/**
 * Throws unless `grant` may give `database` the test cost (see above).
 * @throws {Error} saying why the test cost is refused.
 */
export async function checkGrant (grant: TestKitGrant, database: Database, env: Record<string, string | undefined> = process.env): Promise<void> {
  const refuse = (why: string): Error => new Error(`tessera: the test kit's password cost is refused: ${why}`)
  if (env.NODE_ENV === 'production') throw refuse('NODE_ENV is production')
  if (grant.database !== database || database.dialect !== 'sqlite') throw refuse(`${database.description} is not a database the test kit made`)
  let marked: boolean
  try {
    const { rows } = await sql<{ kit_id: string }>`SELECT kit_id FROM tessera_test_kit WHERE kit_id = ${grant.kitId}`.execute(database.kysely)
    marked = rows.length === 1
  } catch {
    marked = false // no such table
  }
  if (!marked) throw refuse(`${database.description} does not bear the test kit's mark`)
}
