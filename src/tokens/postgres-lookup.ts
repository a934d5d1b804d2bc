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
import { digestBytes } from './format.js'

/** The statement's name on every connection (the text is always the same). */
export const LOOKUP_STATEMENT_NAME = 'tessera_token_lookup'

/**
 * Runs a named statement on a pooled connection with tessera's type parsers and returns its rows
 * as arrays, beside the columns' names (`database.ts` provides it).
 */
export type NamedQuery = (statement: { name: string, text: string, values: unknown[] }) =>
  Promise<{ fields: ReadonlyArray<{ name: string }>, rows: unknown[][] }>

interface WaitingLookup {
  digest: string
  resolve: (record: TokenRecord | undefined) => void
  reject: (error: unknown) => void
}

export class PostgresTokenLookup implements TokenLookup {
  readonly cacheOffReason = undefined
  readonly #query: NamedQuery
  readonly #text: string
  #waiting: WaitingLookup[] = []

  /**
   * @param text the lookup's select (`lookup.ts`) with the digest as its last column, and
   *   `digest = ANY($1::bytea[])` as its condition: the column read to match rows to lookups.
   */
  constructor (query: NamedQuery, text: string) {
    this.#query = query
    this.#text = text
  }

  find (digest: string): Promise<TokenRecord | undefined> {
    return new Promise((resolve, reject) => {
      if (this.#waiting.push({ digest, resolve, reject }) === 1) setImmediate(this.#answerWaiting)
    })
  }

  /** Sends every lookup that arrived since the last call as one query, and answers each. */
  readonly #answerWaiting = (): void => {
    const waiting = this.#waiting
    this.#waiting = []
    const digests = [...new Set(waiting.map((entry) => entry.digest))]
    this.#query({ name: LOOKUP_STATEMENT_NAME, text: this.#text, values: [digests.map(digestBytes)] }).then(({ fields, rows }) => {
      const found = recordsByDigest(fields, rows)
      for (const { digest, resolve } of waiting) resolve(found.get(digest))
    }).catch((error: unknown) => {
      for (const { reject } of waiting) reject(error)
    })
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
