/**
 * What each token may do (its scopes, sorted and space-separated). Every token issued before
 * gets `*`, every scope: exactly what it could do until now.
 */
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tessera_tokens').addColumn('scopes', 'text', (col) => col.notNull().defaultTo('*')).execute()
}
