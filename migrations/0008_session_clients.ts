/**
 * Where each session comes from, so that a person can recognise it in their list of sessions: the
 * client address at its creation and at its last use, and the User-Agent it was created with.
 * Tokens issued before keep `NULL` in all three (unknown), as do tokens made by the CLI; nothing
 * about them changes, and they keep working.
 */
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  for (const column of ['created_ip', 'last_used_ip', 'user_agent']) {
    await db.schema.alterTable('tessera_tokens').addColumn(column, 'text').execute()
  }
}
