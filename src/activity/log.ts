/**
 * The activity log: what happened to a subject's account, for the person to read back
 * (`GET /auth/activity`, `tessera user activity`). Each entry is written in the same transaction
 * as the change it records, so the log never shows a change that did not happen, nor misses one
 * that did. It holds no secret: a token's public id, a device label, an address, a User-Agent.
 */
import type { Kysely } from 'kysely'
import { precompile, type Precompiled } from '../db/precompiled.js'
import type { ActivityRow, Tables } from '../db/schema.js'
import { normalizeAddress } from '../http/client-address.js'
import type { Clock } from '../time.js'

export const ACTIVITY_TYPES = [
  'login',
  'login_failed',
  'logout',
  'logout_all',
  'logout_others',
  'session_revoked',
  'session_evicted',
  'session_renamed',
  'token_created',
  'password_changed',
  'user_deactivated',
  'user_reactivated'
] as const

export type ActivityType = typeof ACTIVITY_TYPES[number]

/** What an entry says beyond its type; what is unknown (a CLI change has no address) is left out. */
export interface ActivityDetails {
  tokenId?: string | null
  device?: string | null
  ip?: string | null
  userAgent?: string | null
}

/** An entry as its subject reads it. */
export interface ActivityEvent {
  /** Opaque; entries with a greater id are newer. */
  id: string
  type: ActivityType
  at: string
  tokenId: string | null
  device: string | null
  ip: string | null
  userAgent: string | null
}

export interface ActivityPage {
  events: ActivityEvent[]
  /** The cursor of the next (older) page, for `before`; `null` on the last page. */
  next: string | null
}

export const ACTIVITY_PAGE_DEFAULT = 50
export const ACTIVITY_PAGE_MAX = 200
const SWEEP_BATCH_SIZE = 1000

/** Longest User-Agent kept, as for sessions. */
const USER_AGENT_MAX = 512

export class ActivityLog {
  readonly #db: Kysely<Tables>
  readonly #clock: Clock
  /** One entry, the common case (a logout's, a login's): compiled once, not built per entry. */
  readonly #insertOne: Precompiled<[subject: string, type: string, at: number, tokenId: string | null, device: string | null, ip: string | null, userAgent: string | null], unknown>

  /** `clock`: when an entry is recorded, unless the change gives its own instant (the plugin's `clock` option). */
  constructor (db: Kysely<Tables>, clock: Clock = Date.now) {
    this.#db = db
    this.#clock = clock
    this.#insertOne = precompile(db, (trx, subject: string, type: string, at: number, tokenId: string | null, device: string | null, ip: string | null, userAgent: string | null) =>
      trx.insertInto('tessera_activity').values({ subject, type, at, token_id: tokenId, device, ip, user_agent: userAgent }))
  }

  /** Records an entry inside `trx`, the transaction of the change it records. */
  async record (trx: Kysely<Tables>, subject: string, type: ActivityType, details: ActivityDetails = {}, at = this.#clock()): Promise<void> {
    await this.recordMany(trx, subject, [{ type, ...details }], at)
  }

  /** Records several entries at once (the sessions a login evicted, say). */
  async recordMany (trx: Kysely<Tables>, subject: string, entries: ReadonlyArray<ActivityDetails & { type: ActivityType }>, at = this.#clock()): Promise<void> {
    const rows = entries.map((entry) => ({
      subject,
      type: entry.type,
      at,
      token_id: entry.tokenId ?? null,
      device: entry.device ?? null,
      ip: entry.ip == null ? null : normalizeAddress(entry.ip),
      user_agent: entry.userAgent?.slice(0, USER_AGENT_MAX) ?? null
    }))
    const [one] = rows
    if (one === undefined) return
    if (rows.length === 1) await this.#insertOne(trx, subject, one.type, at, one.token_id, one.device, one.ip, one.user_agent)
    else await trx.insertInto('tessera_activity').values(rows).execute()
  }

  /** Deletes every entry of the subject, inside `trx` (the deletion of their account). */
  async forget (trx: Kysely<Tables>, subject: string): Promise<void> {
    await trx.deleteFrom('tessera_activity').where('subject', '=', subject).execute()
  }

  /** A page of the subject's log, newest first, older than the cursor `before` when given. */
  async page (subject: string, options: { limit?: number, before?: string } = {}): Promise<ActivityPage> {
    const limit = options.limit ?? ACTIVITY_PAGE_DEFAULT
    let query = this.#db.selectFrom('tessera_activity').selectAll().where('subject', '=', subject)
    if (options.before !== undefined) query = query.where('id', '<', Number(options.before))
    // One more than asked: whether there is a next page, without counting.
    const rows = await query.orderBy('id', 'desc').limit(limit + 1).execute()
    const events = rows.slice(0, limit).map(toEvent)
    return { events, next: rows.length > limit ? events[events.length - 1]!.id : null }
  }

  /** Deletes entries recorded before `cutoff` (epoch ms), in batches; returns how many. */
  async sweep (cutoff: number): Promise<number> {
    let total = 0
    for (;;) {
      const result = await this.#db
        .deleteFrom('tessera_activity')
        .where('id', 'in', (eb) => eb.selectFrom('tessera_activity').select('id').where('at', '<', cutoff).orderBy('at').limit(SWEEP_BATCH_SIZE))
        .executeTakeFirst()
      const deleted = Number(result.numDeletedRows)
      total += deleted
      if (deleted < SWEEP_BATCH_SIZE) return total
    }
  }
}

/** Whether `text` can be a cursor given out by `page` (a positive whole number). */
export function isActivityCursor (text: string): boolean {
  return /^[1-9]\d{0,15}$/.test(text)
}

function toEvent (row: ActivityRow): ActivityEvent {
  return {
    id: String(row.id),
    type: row.type as ActivityType,
    at: new Date(row.at).toISOString(),
    tokenId: row.token_id,
    device: row.device,
    ip: row.ip,
    userAgent: row.user_agent
  }
}
