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
import type { TokenLookup, TokenRecord } from './lookup.js'
import { batchPerTurn } from '../db/turn-batch.js'
import { digestBytes } from './format.js'

/** The statement's name on every connection (the text is always the same). */
export const LOOKUP_STATEMENT_NAME = 'tessera_token_lookup'

/**
 * Runs a named statement on a pooled connection with tessera's type parsers and returns its rows
 * as arrays, beside the columns' names (`database.ts` provides it).
 */
export type NamedQuery = (statement: { name: string, text: string, values: unknown[] }) =>
  Promise<{ fields: ReadonlyArray<{ name: string }>, rows: unknown[][] }>

export class PostgresTokenLookup implements TokenLookup {
  readonly cacheOffReason = undefined
  readonly #find: (digest: string) => Promise<TokenRecord | undefined>

  /**
   * @param text the lookup's select (`lookup.ts`) with the digest as its last column, and
   *   `digest = ANY($1::bytea[])` as its condition: the column read to match rows to lookups.
   */
  constructor (query: NamedQuery, text: string) {
    this.#find = batchPerTurn(async (digests: string[]) => {
      const { fields, rows } = await query({ name: LOOKUP_STATEMENT_NAME, text, values: [digests.map(digestBytes)] })
      return recordsByDigest(fields, rows)
    })
  }

  async find (digest: string): Promise<TokenRecord | undefined> {
    return await this.#find(digest)
  }

  close (): void {}
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
