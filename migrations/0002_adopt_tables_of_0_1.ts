/**
 * Upgrades a database made by tessera 0.1, whose tables were `users` and `auth_tokens` (tokens
 * keyed by an integer `user_id`) with Kysely's default bookkeeping in `kysely_migration`: the rows
 * move into `tessera_users` and `tessera_tokens` (the user id becoming the token's subject, as
 * text), so that every live token keeps working. The old tables and tessera's row in
 * `kysely_migration` are removed, that table too if nothing else is left in it.
 *
 * Only a database that 0.1's migration is recorded in is touched: an application's own `users`
 * table is never read. On any other database this migration does nothing.
 */
import { sql, type Kysely } from 'kysely'
import { isPostgres, tableExists } from './dialect.js'

type AnyDb = Kysely<any>

const LEGACY_MIGRATION = '0001_create_users_and_auth_tokens'

async function madeByTessera01 (db: AnyDb): Promise<boolean> {
  if (!(await tableExists(db, 'kysely_migration')) || !(await tableExists(db, 'auth_tokens'))) return false
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration WHERE name = ${LEGACY_MIGRATION}`.execute(db)
  return rows.length > 0
}

export async function up (db: AnyDb): Promise<void> {
  if (!(await madeByTessera01(db))) return
  const postgres = isPostgres(db)

  await sql`INSERT INTO tessera_users (id, username, username_key, email, password_hash, created_at, deactivated_at, last_login_at)
    SELECT id, username, username_key, email, password_hash, created_at, deactivated_at, last_login_at FROM users`.execute(db)
  await sql`INSERT INTO tessera_tokens (id, digest, format, subject, device, created_at, expires_at, last_used_at)
    SELECT id, digest, format, CAST(user_id AS TEXT), device, created_at, expires_at, last_used_at FROM auth_tokens`.execute(db)

  // Ids handed out before stay handed out: the new sequence continues where the old one stood.
  if (postgres) {
    const { rows } = await sql<{ seq: string | null }>`SELECT pg_get_serial_sequence('users', 'id') AS seq`.execute(db)
    const legacy = rows[0]?.seq
    if (legacy != null) {
      await sql`SELECT setval(pg_get_serial_sequence('tessera_users', 'id'), s.last_value, s.is_called) FROM ${sql.raw(legacy)} s`.execute(db)
    }
  } else {
    await sql`DELETE FROM sqlite_sequence WHERE name = 'tessera_users'`.execute(db)
    await sql`INSERT INTO sqlite_sequence (name, seq) SELECT 'tessera_users', seq FROM sqlite_sequence WHERE name = 'users'`.execute(db)
  }

  await db.schema.dropTable('auth_tokens').execute()
  await db.schema.dropTable('users').execute()
  await sql`DELETE FROM kysely_migration WHERE name = ${LEGACY_MIGRATION}`.execute(db)
  const { rows: left } = await sql<{ name: string }>`SELECT name FROM kysely_migration LIMIT 1`.execute(db)
  if (left.length === 0) {
    await db.schema.dropTable('kysely_migration').execute()
    await db.schema.dropTable('kysely_migration_lock').ifExists().execute()
  }
}
