/**
 * Tombstones: when a token is revoked or expires, its digest is kept for a while (the setting
 * `revocationMemory`, 30 days by default) with when and why it ended, so that the client still
 * presenting it is told `TOKEN_REVOKED` and how, or `TOKEN_EXPIRED`, rather than a bare "unknown".
 * Nothing but the digest of the token is kept: no subject, no device. The sweep deletes tombstones
 * once they are older than the memory.
 *
 * Only a new table: every existing token keeps working.
 */
import type { Kysely } from 'kysely'
import { isPostgres } from './dialect.js'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tessera_token_tombstones')
    // SHA-256 of the whole token, as `tessera_tokens.digest`.
    .addColumn('digest', isPostgres(db) ? 'bytea' : 'blob', (col) => col.notNull())
    // When the token stopped working: its revocation, or its expiry.
    .addColumn('ended_at', 'bigint', (col) => col.notNull())
    // `expired`, or how it was revoked (`logout`, `logout_all`, …: see src/tokens/failures.ts).
    .addColumn('reason', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('tessera_token_tombstones_pkey', ['digest'])
    .execute()
  // The sweep deletes the oldest first, in batches.
  await db.schema.createIndex('tessera_token_tombstones_ended_at').on('tessera_token_tombstones').column('ended_at').execute()
}
