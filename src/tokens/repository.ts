/** All SQL that touches `auth_tokens`. Functions take the Kysely instance (or a transaction) first. */
import { sql, type Kysely } from 'kysely'
import type { NewTokenRow, Tables, TokenRow } from '../db/schema.js'

type Db = Kysely<Tables>

/** Rows whose expiry is still ahead of `now` (or that never expire). */
const live = (now: number) => sql<boolean>`(expires_at IS NULL OR expires_at > ${now})`

export async function insertToken (db: Db, token: NewTokenRow): Promise<void> {
  await db.insertInto('auth_tokens').values(token).execute()
}

export async function countLiveTokens (db: Db, userId: number, now: number): Promise<number> {
  const { count } = await db
    .selectFrom('auth_tokens')
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .where('user_id', '=', userId)
    .where(live(now))
    .executeTakeFirstOrThrow()
  return Number(count)
}

/** Deletes the user's `count` least recently used live tokens; returns their ids. */
export async function deleteLeastRecentlyUsed (db: Db, userId: number, count: number, now: number): Promise<string[]> {
  const victims = await db
    .selectFrom('auth_tokens')
    .select('id')
    .where('user_id', '=', userId)
    .where(live(now))
    .orderBy(sql`coalesce(last_used_at, created_at)`)
    .orderBy('created_at')
    .limit(count)
    .execute()
  const ids = victims.map((victim) => victim.id)
  if (ids.length > 0) await db.deleteFrom('auth_tokens').where('id', 'in', ids).execute()
  return ids
}

/** The user's live tokens, newest first. */
export async function listLiveTokens (db: Db, userId: number, now: number): Promise<TokenRow[]> {
  return await db
    .selectFrom('auth_tokens')
    .selectAll()
    .where('user_id', '=', userId)
    .where(live(now))
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute()
}

/** Deletes one token, optionally only if it belongs to `userId`; returns whether one was deleted. */
export async function deleteToken (db: Db, id: string, userId?: number): Promise<boolean> {
  let query = db.deleteFrom('auth_tokens').where('id', '=', id)
  if (userId !== undefined) query = query.where('user_id', '=', userId)
  const result = await query.executeTakeFirst()
  return result.numDeletedRows > 0n
}

/** Deletes every token of a user, except `keepId` when given; returns how many. */
export async function deleteUserTokens (db: Db, userId: number, keepId?: string): Promise<number> {
  let query = db.deleteFrom('auth_tokens').where('user_id', '=', userId)
  if (keepId !== undefined) query = query.where('id', '!=', keepId)
  const result = await query.executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Records a use of the token and, for sliding expiry, its new expiry. */
export async function touchToken (db: Db, id: string, lastUsedAt: number, expiresAt: number | null): Promise<void> {
  await db.updateTable('auth_tokens').set({ last_used_at: lastUsedAt, expires_at: expiresAt }).where('id', '=', id).execute()
}

/**
 * Deletes up to `limit` tokens that expired before `now`; returns how many. Batches keep each
 * write transaction short, so that logins and the hot path never wait long behind a sweep.
 */
export async function deleteExpiredBatch (db: Db, now: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('auth_tokens')
    .where('id', 'in', (eb) =>
      eb.selectFrom('auth_tokens').select('id').where('expires_at', '<=', now).orderBy('expires_at').limit(limit))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
