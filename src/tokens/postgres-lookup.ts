/**
 * The token lookup on PostgreSQL: the lookups of one event-loop turn go to the server as one
 * query, `… WHERE digest = ANY($1::bytea[])`, run as a named statement (parsed and planned once
 * per connection, then only bound and executed).
 *
 * Nothing is cached: PostgreSQL offers no change signal without a round trip, and several
 * instances may share the database. Every batch is queried after all of its requests arrived
 * (`setImmediate` runs once the event loop has read this turn's requests), so a revocation
 * committed anywhere — by this instance, another one, the CLI — before a client sent its request
 * is always seen by that request.
 *
 * Named statements need a session that stays on one server connection: behind a transaction-
 * pooling proxy (PgBouncer before 1.21 without `max_prepared_statements`) they fail.
 */
import type { PendingUse, TokenLookup, TokenRecord } from './lookup.js'
import { batchPerTurn } from '../db/turn-batch.js'
import { digestBytes } from './format.js'

/** The statement's name on every connection (the text is always the same). */
export const LOOKUP_STATEMENT_NAME = 'tessera_token_lookup'
/** The tombstone lookup of a token that is not live (the miss path: one query, not batched). */
export const TOMBSTONE_STATEMENT_NAME = 'tessera_tombstone_lookup'

/**
 * The uses of one turn in one statement. A row only moves forward: two batches in flight on two
 * connections may commit in either order, and an older use must not undo a newer one's slide.
 * A use whose address is unknown (`NULL`) keeps the address recorded before.
 * It commits without waiting for its WAL to reach the disk (`synchronous_commit = off` for this
 * transaction alone), as SQLite's use writes do: nobody waits for it, and a crash of the server
 * may lose only the last fraction of a second of uses, never a revocation or a login.
 */
const TOUCH_STATEMENT = {
  name: 'tessera_token_touch',
  text: `UPDATE tessera_tokens AS t SET last_used_at = u.last_used_at, expires_at = u.expires_at,
      last_used_ip = coalesce(u.last_used_ip, t.last_used_ip)
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS u(id, last_used_at, expires_at, last_used_ip),
      (SELECT set_config('synchronous_commit', 'off', true)) AS without_waiting_for_the_disk
    WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.last_used_at)`
}

/**
 * Runs a named statement on a pooled connection with tessera's type parsers and returns its rows
 * as arrays, beside the columns' names (`database.ts` provides it).
 */
export type NamedQuery = (
  statement: { name: string, text: string, values: unknown[] }
) => Promise<{ fields: ReadonlyArray<{ name: string }>, rows: unknown[][] }>

export class PostgresTokenLookup implements TokenLookup {
  readonly cacheOffReason = undefined
  readonly #query: NamedQuery
  readonly #find: (digest: string) => Promise<TokenRecord | undefined>
  readonly #tombstoneText: string
  /** Uses waiting to be written, by token id: one write per token per turn. */
  readonly #uses = new Map<string, PendingUse>()
  /** Writes sent and not yet answered, for `flushUses` and `close` to wait for. */
  readonly #writing = new Set<Promise<void>>()

  /**
   * @param text the lookup's select (`lookup.ts`) with the digest as its last column, and
   *   `digest = ANY($1::bytea[])` as its condition: the column read to match rows to lookups.
   * @param tombstoneText the select of a tombstone's reason by digest (`$1`) and end bound (`$2`).
   */
  constructor (query: NamedQuery, text: string, tombstoneText: string) {
    this.#query = query
    this.#tombstoneText = tombstoneText
    this.#find = batchPerTurn(async (digests: string[]) => {
      const { fields, rows } = await query({ name: LOOKUP_STATEMENT_NAME, text, values: [digests.map(digestBytes)] })
      return recordsByDigest(fields, rows)
    })
  }

  async find (digest: string): Promise<TokenRecord | undefined> {
    return await this.#find(digest)
  }

  async findTombstone (digest: string, since: number): Promise<string | undefined> {
    const { rows } = await this.#query({ name: TOMBSTONE_STATEMENT_NAME, text: this.#tombstoneText, values: [digestBytes(digest), since] })
    return rows[0]?.[0] as string | undefined
  }

  /**
   * Records a use without making the request wait: the uses of one turn are written by one
   * statement, after the turn (so a use costs a request no round trip of its own).
   */
  recordUse (record: TokenRecord, lastUsedAt: number, expiresAt: number | null, lastUsedIp: string | null, onError: (error: unknown) => void): void {
    this.#uses.set(record.id, { record, lastUsedAt, expiresAt, lastUsedIp, onError })
    if (this.#uses.size === 1) setImmediate(() => { void this.flushUses() })
  }

  /** Sends the uses recorded so far, and resolves once every write sent has been answered. */
  async flushUses (): Promise<void> {
    if (this.#uses.size > 0) {
      const uses = [...this.#uses.values()]
      this.#uses.clear()
      const values = [
        uses.map((use) => use.record.id), uses.map((use) => use.lastUsedAt), uses.map((use) => use.expiresAt), uses.map((use) => use.lastUsedIp)
      ]
      const write = this.#query({ ...TOUCH_STATEMENT, values }).then(() => {}, (error: unknown) => {
        // Best effort: the requests were answered; the next uses try again.
        for (const use of uses) use.onError(error)
      })
      this.#writing.add(write)
      void write.finally(() => this.#writing.delete(write))
    }
    await Promise.all(this.#writing)
  }

  async close (): Promise<void> {
    await this.flushUses()
  }
}

/** Each row as a `TokenRecord` (every column but the last), keyed by its digest (the last). */
function recordsByDigest (fields: ReadonlyArray<{ name: string }>, rows: unknown[][]): Map<string, TokenRecord> {
  const columns = fields.length - 1
  const found = new Map<string, TokenRecord>()
  for (const row of rows) {
    const record: Record<string, unknown> = {}
    for (let i = 0; i < columns; i++) record[fields[i]!.name] = row[i]
    found.set((row[columns] as Buffer).toString('binary'), record as unknown as TokenRecord)
  }
  return found
}
