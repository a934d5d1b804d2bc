/** All SQL that touches `tessera_users` (the built-in user store's table). Functions take the Kysely instance (or a transaction) first. */
import type { Kysely } from 'kysely'
import type { NewUserRow, Tables, UserRow } from '../../db/schema.js'

type Db = Kysely<Tables>

/**
 * The key usernames are unique under and matched by (PRECIS UsernameCaseMapped's width and case
 * mapping, RFC 8265): NFKC, then full case folding (lower, upper, lower case, so that `ß`, `ẞ` and
 * `SS` meet, and `ς` and `Σ`), then NFC. Migration 0004 holds a frozen copy of it.
 */
export function usernameKey (username: string): string {
  return username.normalize('NFKC').toLowerCase().toUpperCase().toLowerCase().normalize('NFC')
}

/** Inserts a user; returns `undefined` when the username is taken (compared by `username_key`). */
export async function insertUser (db: Db, user: NewUserRow): Promise<UserRow | undefined> {
  return await db
    .insertInto('tessera_users')
    .values(user)
    .onConflict((conflict) => conflict.column('username_key').doNothing())
    .returningAll()
    .executeTakeFirst()
}

export async function findUserByUsername (db: Db, username: string): Promise<UserRow | undefined> {
  // No username holds a NUL (see the Username schema), and PostgreSQL refuses one in any text value.
  if (username.includes('\u0000')) return undefined
  return await db.selectFrom('tessera_users').selectAll().where('username_key', '=', usernameKey(username)).executeTakeFirst()
}

export async function findUserById (db: Db, id: number): Promise<UserRow | undefined> {
  return await db.selectFrom('tessera_users').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function listUsers (db: Db): Promise<UserRow[]> {
  return await db.selectFrom('tessera_users').selectAll().orderBy('id').execute()
}

/**
 * Replaces the password hash if it is still `expected` (the one the current password was checked
 * against) and the user is active; returns whether it did. A concurrent change that committed
 * first makes this one a no-op: the password its caller presented is no longer current.
 */
export async function replacePasswordHash (db: Db, id: number, expected: string, passwordHash: string): Promise<boolean> {
  const result = await db.updateTable('tessera_users').set({ password_hash: passwordHash })
    .where('id', '=', id).where('password_hash', '=', expected).where('deactivated_at', 'is', null)
    .executeTakeFirst()
  return result.numUpdatedRows > 0n
}

/** Sets a user's password hash, whatever it was (an operator's reset); returns whether the user exists. */
export async function setPasswordHash (db: Db, id: number, passwordHash: string): Promise<boolean> {
  const result = await db.updateTable('tessera_users').set({ password_hash: passwordHash }).where('id', '=', id).executeTakeFirst()
  return result.numUpdatedRows > 0n
}

/** Marks a deactivated user active again; returns whether a user was changed. */
export async function reactivateUser (db: Db, id: number): Promise<boolean> {
  const result = await db
    .updateTable('tessera_users')
    .set({ deactivated_at: null })
    .where('id', '=', id)
    .where('deactivated_at', 'is not', null)
    .executeTakeFirst()
  return result.numUpdatedRows > 0n
}

/** Deletes a user's row; returns whether there was one. */
export async function deleteUser (db: Db, id: number): Promise<boolean> {
  const result = await db.deleteFrom('tessera_users').where('id', '=', id).executeTakeFirst()
  return result.numDeletedRows > 0n
}

/** Marks a user inactive; returns whether a user was changed. */
export async function deactivateUser (db: Db, id: number, now: number): Promise<boolean> {
  const result = await db
    .updateTable('tessera_users')
    .set({ deactivated_at: now })
    .where('id', '=', id)
    .where('deactivated_at', 'is', null)
    .executeTakeFirst()
  return result.numUpdatedRows > 0n
}

/** Records a login, in the transaction that issues its token. */
export async function recordLogin (db: Db, id: number, now: number): Promise<void> {
  await db.updateTable('tessera_users').set({ last_login_at: now }).where('id', '=', id).execute()
}
