/**
 * tessera's tables, as Kysely sees them. Every table and index tessera creates starts with
 * `tessera_`, so that it can share a database with the application that embeds it. Instants are
 * epoch milliseconds in `bigint` columns so that SQLite and PostgreSQL store and compare them alike.
 */
import type { Generated, Insertable, Selectable } from 'kysely'

/** The built-in user store's users (unused when the application brings its own users). */
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
  last_login_at: number | null
}

export interface TokensTable {
  /** Random public id (UUID), unrelated to the secret: safe to show and to put in URLs. */
  id: string
  /** SHA-256 of the whole token: the only trace of the secret that is stored. */
  digest: Buffer
  /** How the token was made and digested, so that a future scheme can live beside this one. */
  format: number
  /** Whose token it is: an opaque id given by the user store (the built-in store's user id as text). */
  subject: string
  device: string
  created_at: number
  /** `null`: never expires. */
  expires_at: number | null
  last_used_at: number | null
  /** The token's own lifetime in ms, by which it slides; `null`: never expires, or issued before 0003 (slides by the configured TTL). */
  ttl_ms: number | null
  /** What the token may do: scopes sorted and space-separated, or `*` (see tokens/scopes.ts). */
  scopes: Generated<string>
  /** The client address the token was issued to (see `normalizeAddress`); `null`: unknown (the CLI, or issued before 0008). */
  created_ip: string | null
  /** The client address of its last recorded use, written with `last_used_at`; `null`: unknown or never used. */
  last_used_ip: string | null
  /** The User-Agent it was issued to, at most 512 characters; `null`: none sent, or unknown. */
  user_agent: string | null
}

/** The rate limits' open windows, counted here on PostgreSQL (see http/database-window-counter.ts). */
export interface RateLimitsTable {
  limit_name: string
  /** A digest of the address, username or token id counted. */
  key: string
  window_start: number
  hits: number
}

/**
 * What is left of a revoked or expired token for `revocationMemory`: its digest, when it ended and
 * why, so that presenting it again says so (see tokens/repository.ts).
 */
export interface TombstonesTable {
  digest: Buffer
  /** When the token stopped working: its revocation, or its expiry. */
  ended_at: number
  /** `expired`, or a `RevocationReason`. */
  reason: string
}

/** A subject's security events, as they read them back (see src/activity/). */
export interface ActivityTable {
  id: Generated<number>
  subject: string
  /** One of `ACTIVITY_TYPES`. */
  type: string
  at: number
  token_id: string | null
  device: string | null
  ip: string | null
  user_agent: string | null
}

export interface Tables {
  tessera_users: UsersTable
  tessera_tokens: TokensTable
  tessera_rate_limits: RateLimitsTable
  tessera_token_tombstones: TombstonesTable
  tessera_activity: ActivityTable
}

export type UserRow = Selectable<UsersTable>
export type NewUserRow = Insertable<UsersTable>
export type TokenRow = Selectable<TokensTable>
export type NewTokenRow = Insertable<TokensTable>
export type ActivityRow = Selectable<ActivityTable>
