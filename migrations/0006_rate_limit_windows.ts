/**
 * The rate limits' open windows, so that every instance on one database counts against one limit
 * (see src/http/database-window-counter.ts). One row per limit and key: when its window started
 * and how many requests it counted since. A row whose window has ended means nothing (the next
 * request starts a fresh window in place) and is swept.
 *
 * Created on both dialects so that every database has the same tables, but used only on
 * PostgreSQL: on SQLite there is one process, whose limits count in its memory.
 */
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tessera_rate_limits')
    // Which limit (`login-username`, `login-address`, `register-address`, `token`).
    .addColumn('limit_name', 'text', (col) => col.notNull())
    // A digest of the key (the address, username or token id): fixed length, whatever the client sent.
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('window_start', 'bigint', (col) => col.notNull())
    .addColumn('hits', 'integer', (col) => col.notNull())
    .addPrimaryKeyConstraint('tessera_rate_limits_pkey', ['limit_name', 'key'])
    .execute()
  // The sweep deletes each limit's ended windows in batches, oldest first.
  await db.schema.createIndex('tessera_rate_limits_window_start').on('tessera_rate_limits').columns(['limit_name', 'window_start']).execute()
}
