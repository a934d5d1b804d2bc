/**
 * Fixed-window counters kept in the database (`tessera_rate_limits`), so that every instance on
 * one PostgreSQL database counts against one limit: with N instances behind a load balancer, a
 * username still gets 10 attempts a minute, not 10 × N.
 *
 * The same semantics as `FixedWindowCounter`: a window per key starts with its first request and
 * lasts `rate.windowMs`; requests are allowed while the window has counted at most `rate.max`;
 * `retryAfterMs` runs until the window ends. Each counted request is one atomic upsert, which
 * starts a fresh window in place when the stored one has ended. Instants come from the database
 * server's clock, so that instances whose clocks disagree still agree on when a window ends
 * (unless the plugin was given a `clock`, a test's: then they are that clock's, sent as parameters).
 *
 * The upsert commits without waiting for its WAL to reach the disk (`synchronous_commit = off`
 * for that one statement): a server crash may forget the last fraction of a second of counts,
 * which a rate limit can afford, and a counted request costs a round trip instead of a disk flush
 * (about 0.5 ms instead of 2.5 ms here: bench/rate-limit-cost.ts).
 *
 * Keys are stored as SHA-256 digests: a fixed length whatever a client sends (a username may be
 * long, or hold a NUL PostgreSQL cannot store), and no addresses or usernames at rest. Ended
 * windows are deleted by `sweep`, in bounded batches; there is no cap on open windows (the table
 * holds one short row per key seen within a window), unlike the memory counter's `maxKeys`.
 */
import { createHash } from 'node:crypto'
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Tables } from '../db/schema.js'
import type { Rate } from '../settings.js'
import type { Hit } from './fixed-window-counter.js'

export interface DatabaseCounterOptions {
  /** The limit's name, which keeps its rows apart from the other limits' (`login-username`, …). */
  name: string
  /** A wall clock in epoch ms (tests pass their own); the default is the database server's clock. */
  now?: () => number
}

/** Rows one sweep statement deletes at most: each batch is a short statement of its own. */
const SWEEP_BATCH = 1000
/** Batches one `sweep` runs at most; what is left waits for the next one. */
const SWEEP_BATCHES = 20

/** The database server's clock in epoch ms: the same instant everywhere in one statement. */
const SERVER_NOW = sql<number>`floor(extract(epoch from statement_timestamp()) * 1000)::bigint`

export class DatabaseWindowCounter {
  readonly #db: Kysely<Tables>
  readonly #rate: Rate
  readonly #name: string
  readonly #now: (() => number) | undefined

  constructor (db: Kysely<Tables>, rate: Rate, options: DatabaseCounterOptions) {
    this.#db = db
    this.#rate = rate
    this.#name = options.name
    this.#now = options.now
  }

  /**
   * Counts one request for `key`: one `INSERT … ON CONFLICT DO UPDATE`, atomic however many
   * instances count the same key at once.
   *
   * ```ts
   * const counter = new DatabaseWindowCounter(database.kysely, { max: 10, windowMs: 60_000 }, { name: 'login-username' })
   * const { allowed, retryAfterMs } = await counter.hit('alice')
   * ```
   */
  async hit (key: string): Promise<Hit> {
    const now = this.#clock()
    const windowMs = this.#rate.windowMs
    const { rows } = await sql<{ hits: number, window_start: number | string, now: number | string }>`
      INSERT INTO tessera_rate_limits AS counted (limit_name, key, window_start, hits)
      SELECT ${this.#name}, ${digest(key)}, ${now}, 1
      FROM (SELECT set_config('synchronous_commit', 'off', true)) AS without_waiting_for_the_disk
      ON CONFLICT (limit_name, key) DO UPDATE SET
        hits = CASE WHEN counted.window_start <= excluded.window_start - ${windowMs} THEN 1 ELSE counted.hits + 1 END,
        window_start = CASE WHEN counted.window_start <= excluded.window_start - ${windowMs} THEN excluded.window_start ELSE counted.window_start END
      RETURNING hits, window_start, ${now} AS now`.execute(this.#db)
    const row = rows[0]!
    return {
      allowed: row.hits <= this.#rate.max,
      retryAfterMs: Number(row.window_start) + windowMs - Number(row.now),
      full: false
    }
  }

  /**
   * Deletes this limit's ended windows, oldest first, in batches of at most 1 000 rows (rows a
   * request is counting at that moment are skipped, not waited for); returns how many.
   */
  async sweep (): Promise<number> {
    let deleted = 0
    for (let batch = 0; batch < SWEEP_BATCHES; batch++) {
      const result = await sql`
        DELETE FROM tessera_rate_limits
        WHERE limit_name = ${this.#name} AND key IN (
          SELECT key FROM tessera_rate_limits
          WHERE limit_name = ${this.#name} AND window_start <= ${this.#clock()} - ${this.#rate.windowMs}
          ORDER BY window_start
          LIMIT ${SWEEP_BATCH}
          FOR UPDATE SKIP LOCKED)`.execute(this.#db)
      const count = Number(result.numAffectedRows ?? 0)
      deleted += count
      if (count < SWEEP_BATCH) break
    }
    return deleted
  }

  #clock (): RawBuilder<number> {
    return this.#now === undefined ? SERVER_NOW : sql<number>`${this.#now()}::bigint`
  }
}

function digest (key: string): string {
  return createHash('sha256').update(key).digest('base64url')
}
