/**
 * Each token's own lifetime, so that a sliding token slides by it (a `--ttl 2m` token stays a
 * two-minute token, a `--ttl 30d` one a thirty-day one), not by the configured default. Tokens
 * issued before keep `NULL`: they slide by the configured TTL, as they always did.
 */
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tessera_tokens').addColumn('ttl_ms', 'bigint').execute()
}
