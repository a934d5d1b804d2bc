/** All SQL that touches `tessera_tokens`. Functions take the Kysely instance (or a transaction) first. */
import { sql, type Kysely } from 'kysely'
import type { NewTokenRow, Tables, TokenRow } from '../db/schema.js'

type Db = Kysely<Tables>

/** Rows whose expiry is still ahead of `now` (or that never expire). */
const live = (now: number) => sql<boolean>`(expires_at IS NULL OR expires_at > ${now})`

export async function insertToken (db: Db, token: NewTokenRow): Promise<void> {
  await db.insertInto('tessera_tokens').values(token).execute()
}

/**
 * Makes the calling transaction the only one issuing tokens for `subject` until it ends, so that
 * counting the subject's tokens and adding one cannot interleave with another login's. PostgreSQL:
 * a transaction-scoped advisory lock on the subject. SQLite: a write (deleting the subject's
 * expired tokens, which is useful anyway) takes the database's write lock at once, instead of at
 * the insert after the count.
 */
export async function lockSubject (db: Db, subject: string, now: number, postgres: boolean): Promise<void> {
  if (postgres) await sql`SELECT pg_advisory_xact_lock(hashtext(${`tessera_tokens:${subject}`}))`.execute(db)
  else await db.deleteFrom('tessera_tokens').where('subject', '=', subject).where('expires_at', '<=', now).execute()
}

export async function countLiveTokens (db: Db, subject: string, now: number): Promise<number> {
  const { count } = await db
    .selectFrom('tessera_tokens')
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .where('subject', '=', subject)
    .where(live(now))
    .executeTakeFirstOrThrow()
  return Number(count)
}

/** Deletes the subject's `count` least recently used live tokens; returns their ids. */
export async function deleteLeastRecentlyUsed (db: Db, subject: string, count: number, now: number): Promise<string[]> {
  const victims = await db
    .selectFrom('tessera_tokens')
    .select('id')
    .where('subject', '=', subject)
    .where(live(now))
    .orderBy(sql`coalesce(last_used_at, created_at)`)
    .orderBy('created_at')
    .limit(count)
    .execute()
  const ids = victims.map((victim) => victim.id)
  if (ids.length > 0) await db.deleteFrom('tessera_tokens').where('id', 'in', ids).execute()
  return ids
}

/** The subject's live tokens, newest first. */
export async function listLiveTokens (db: Db, subject: string, now: number): Promise<TokenRow[]> {
  return await db
    .selectFrom('tessera_tokens')
    .selectAll()
    .where('subject', '=', subject)
    .where(live(now))
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute()
}

/** Deletes one token, optionally only if it belongs to `subject`; returns the subject it belonged to. */
export async function deleteToken (db: Db, id: string, subject?: string): Promise<string | undefined> {
  let query = db.deleteFrom('tessera_tokens').where('id', '=', id)
  if (subject !== undefined) query = query.where('subject', '=', subject)
  const deleted = await query.returning('subject').executeTakeFirst()
  return deleted?.subject
}

/** Deletes every token of a subject, except `keepId` when given; returns how many. */
export async function deleteSubjectTokens (db: Db, subject: string, keepId?: string): Promise<number> {
  let query = db.deleteFrom('tessera_tokens').where('subject', '=', subject)
  if (keepId !== undefined) query = query.where('id', '!=', keepId)
  const result = await query.executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Sets a live token's device label, optionally only if it belongs to `subject`; returns the token as it now is. */
export async function renameToken (db: Db, id: string, device: string, { subject, now }: { subject: string | undefined, now: number }): Promise<TokenRow | undefined> {
  let query = db.updateTable('tessera_tokens').set({ device }).where('id', '=', id).where(live(now))
  if (subject !== undefined) query = query.where('subject', '=', subject)
  return await query.returningAll().executeTakeFirst()
}

/**
 * Deletes up to `limit` tokens that expired before `now`; returns how many. Batches keep each
 * write transaction short, so that logins and the hot path never wait long behind a sweep.
 */
export async function deleteExpiredBatch (db: Db, now: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('tessera_tokens')
    .where('id', 'in', (eb) =>
      eb.selectFrom('tessera_tokens').select('id').where('expires_at', '<=', now).orderBy('expires_at').limit(limit))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
