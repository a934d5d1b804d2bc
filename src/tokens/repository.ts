/**
 * All SQL that touches `tessera_tokens` and `tessera_token_tombstones`. Functions take the Kysely
 * instance (or a transaction) first.
 *
 * Every delete of a token leaves its tombstone (`bury`), in the caller's transaction: the
 * digest, when it ended and why, kept for the revocation memory so that presenting the token
 * again answers `TOKEN_REVOKED` (with its reason) or `TOKEN_EXPIRED`. A token deleted after its
 * expiry is buried as `expired`, at its expiry, whatever deleted it.
 */
import { sql, type Kysely } from 'kysely'
import { precompile, type Precompiled } from '../db/precompiled.js'
import type { NewTokenRow, Tables, TokenRow } from '../db/schema.js'
import type { RevocationReason } from './failures.js'

type Db = Kysely<Tables>

/** Why a token stopped working: it expired, or how it was revoked. */
export type EndReason = RevocationReason | 'expired'

/** The tombstones the deletes of one write leave. */
export interface Ending {
  /** How the live tokens being deleted were revoked (`expired` for the sweep). */
  reason: EndReason
  now: number
  /** How long tombstones are kept (`revocationMemory`): one that would be older is not written. */
  memoryMs: number
}

/** The columns of a deleted token that its tombstone needs. */
const BURIED = ['digest', 'expires_at'] as const

/** Rows per insert of tombstones: three parameters each, well under either dialect's limit. */
const TOMBSTONES_PER_INSERT = 1000

type Buried = Pick<TokenRow, 'digest' | 'expires_at'>

/** The tombstones the deleted tokens leave: none for one that ended before the memory's reach. */
function tombstonesOf (deleted: readonly Buried[], { reason, now, memoryMs }: Ending): Array<{ digest: Buffer, ended_at: number, reason: string }> {
  return deleted.flatMap(({ digest, expires_at: expiresAt }) => {
    const expired = expiresAt !== null && expiresAt <= now
    const endedAt = expired ? expiresAt : now
    return endedAt > now - memoryMs ? [{ digest, ended_at: endedAt, reason: expired ? 'expired' : reason }] : []
  })
}

/** Leaves a tombstone for each token just deleted. */
async function bury (db: Db, deleted: readonly Buried[], ending: Ending): Promise<void> {
  const tombstones = tombstonesOf(deleted, ending)
  for (let i = 0; i < tombstones.length; i += TOMBSTONES_PER_INSERT) {
    await db.insertInto('tessera_token_tombstones').values(tombstones.slice(i, i + TOMBSTONES_PER_INSERT))
      .onConflict((conflict) => conflict.column('digest').doNothing())
      .execute()
  }
}

/** Deletes up to `limit` tombstones of tokens that ended at or before `before`; returns how many. */
export async function deleteTombstonesBatch (db: Db, before: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('tessera_token_tombstones')
    .where('digest', 'in', (eb) =>
      eb.selectFrom('tessera_token_tombstones').select('digest').where('ended_at', '<=', before).orderBy('ended_at').limit(limit))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

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
export async function lockSubject (db: Db, subject: string, ending: Ending, postgres: boolean): Promise<void> {
  if (postgres) {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`tessera_tokens:${subject}`}))`.execute(db)
    return
  }
  const expired = await db.deleteFrom('tessera_tokens').where('subject', '=', subject).where('expires_at', '<=', ending.now)
    .returning(BURIED).execute()
  await bury(db, expired, ending)
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
export async function deleteLeastRecentlyUsed (db: Db, subject: string, count: number, ending: Ending): Promise<string[]> {
  const victims = await db
    .selectFrom('tessera_tokens')
    .select('id')
    .where('subject', '=', subject)
    .where(live(ending.now))
    .orderBy(sql`coalesce(last_used_at, created_at)`)
    .orderBy('created_at')
    .limit(count)
    .execute()
  const ids = victims.map((victim) => victim.id)
  if (ids.length > 0) await bury(db, await db.deleteFrom('tessera_tokens').where('id', 'in', ids).returning(BURIED).execute(), ending)
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
export async function deleteToken (db: Db, id: string, ending: Ending, subject?: string): Promise<string | undefined> {
  let query = db.deleteFrom('tessera_tokens').where('id', '=', id)
  if (subject !== undefined) query = query.where('subject', '=', subject)
  const deleted = await query.returning(['subject', ...BURIED]).executeTakeFirst()
  if (deleted === undefined) return undefined
  await bury(db, [deleted], ending)
  return deleted.subject
}

/**
 * The statements of a logout, compiled once for a database (`precompile`): a logout is the write
 * most often made, and building these with Kysely each time cost more than running them.
 */
export interface LogoutStatements {
  deleteOwnToken: Precompiled<[id: string, subject: string], Buried & Pick<TokenRow, 'subject'>>
  buryOne: Precompiled<[digest: Buffer, endedAt: number, reason: string], unknown>
}

export function logoutStatements (kysely: Db): LogoutStatements {
  return {
    deleteOwnToken: precompile(kysely, (db, id: string, subject: string) =>
      db.deleteFrom('tessera_tokens').where('id', '=', id).where('subject', '=', subject).returning(['subject', ...BURIED])),
    buryOne: precompile(kysely, (db, digest: Buffer, endedAt: number, reason: string) =>
      db.insertInto('tessera_token_tombstones').values({ digest, ended_at: endedAt, reason })
        .onConflict((conflict) => conflict.column('digest').doNothing()))
  }
}

/**
 * `deleteToken` of one of `subject`'s tokens with the statements of a logout, in `db`, a
 * transaction of the database they were compiled for; returns whether there was one.
 */
export async function deleteOwnToken (db: Db, statements: LogoutStatements, id: string, subject: string, ending: Ending): Promise<boolean> {
  const { rows } = await statements.deleteOwnToken(db, id, subject)
  for (const { digest, ended_at: endedAt, reason } of tombstonesOf(rows, ending)) await statements.buryOne(db, digest, endedAt, reason)
  return rows.length > 0
}

/** Deletes every token of a subject, except `keepId` when given; returns how many. */
export async function deleteSubjectTokens (db: Db, subject: string, ending: Ending, keepId?: string): Promise<number> {
  let query = db.deleteFrom('tessera_tokens').where('subject', '=', subject)
  if (keepId !== undefined) query = query.where('id', '!=', keepId)
  const deleted = await query.returning(BURIED).execute()
  await bury(db, deleted, ending)
  return deleted.length
}

/** Sets a live token's device label, optionally only if it belongs to `subject`; returns the token as it now is. */
export async function renameToken (db: Db, id: string, device: string, { subject, now }: { subject: string | undefined, now: number }): Promise<TokenRow | undefined> {
  let query = db.updateTable('tessera_tokens').set({ device }).where('id', '=', id).where(live(now))
  if (subject !== undefined) query = query.where('subject', '=', subject)
  return await query.returningAll().executeTakeFirst()
}

/**
 * Deletes up to `limit` tokens that expired by `ending.now`, leaving their `expired` tombstones;
 * returns how many. Batches keep each write transaction short, so that logins and the hot path
 * never wait long behind a sweep.
 */
export async function deleteExpiredBatch (db: Db, ending: Ending, limit: number): Promise<number> {
  const deleted = await db
    .deleteFrom('tessera_tokens')
    .where('id', 'in', (eb) =>
      eb.selectFrom('tessera_tokens').select('id').where('expires_at', '<=', ending.now).orderBy('expires_at').limit(limit))
    .returning(BURIED)
    .execute()
  await bury(db, deleted, ending)
  return deleted.length
}
