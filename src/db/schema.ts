/**
 * The tables, as Kysely sees them. Instants are epoch milliseconds in `bigint`
 * columns so that SQLite and PostgreSQL store and compare them the same way.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely'

export interface UsersTable {
  id: Generated<number>
  /** As the user typed it, shown back to them. */
  username: string
  /** NFKC-normalised and case-folded: the unique key that login matches on. */
  username_key: string
  email: string | null
  /** An argon2id PHC string. */
  password_hash: string
  created_at: number
  /** Set when the user is deactivated; their tokens stop working. */
  deactivated_at: number | null
  /** Written on every login; the write also serialises concurrent logins of one user. */
  last_login_at: number | null
}

export interface AuthTokensTable {
  /** Random public id (UUID), unrelated to the secret: safe to show and to put in URLs. */
  id: string
  /** SHA-256 of the whole token: the only trace of the secret that is stored. */
  digest: Buffer
  /** How the token was made and digested, so that a future scheme can live beside this one. */
  format: number
  user_id: number
  device: string
  created_at: number
  /** `null`: never expires. */
  expires_at: number | null
  last_used_at: number | null
}

export interface Tables {
  users: UsersTable
  auth_tokens: AuthTokensTable
}

export type UserRow = Selectable<UsersTable>
export type NewUserRow = Insertable<UsersTable>
export type UserUpdate = Updateable<UsersTable>
export type TokenRow = Selectable<AuthTokensTable>
export type NewTokenRow = Insertable<AuthTokensTable>
