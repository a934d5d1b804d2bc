/**
 * The token lookup on PostgreSQL: the lookups of one event-loop turn (of several, under load: see
 * `#batched`) go to the server as one query of all their digests (`$1`, an array), run as a named
 * statement: parsed once per connection, and planned once too (`FOUND_TOKENS` says how), then
 * only bound and executed.
 *
 * Nothing is cached: PostgreSQL offers no change signal without a round trip, and several
 * instances may share the database. Every batch is queried after all of its requests arrived
 * (`setImmediate` runs once the event loop has read this turn's requests; a batch that waited for
 * the query before it is sent after that one answered), so a revocation committed anywhere — by
 * this instance, another one, the CLI — before a client sent its request is always seen by that
 * request.
 *
 * With a user store whose users live in this database (the built-in one), the same query reads
 * each token's user too (`findWithUser`, the store's `UserJoin`): a turn then costs one round trip,
 * where asking the store after the tokens would make it two. The statement is shaped for a plan
 * made once per connection (`FOUND_TOKENS`).
 *
 * Rows come back as arrays and are read by position (`recordOf`): one object of a fixed shape per
 * request, nothing built per column name.
 *
 * Named statements need a session that stays on one server connection: behind a transaction-
 * pooling proxy (PgBouncer before 1.21 without `max_prepared_statements`) they fail.
 */
import type { PendingUse, RecordWithUser, TokenLookup, TokenRecord, UserJoin } from './lookup.js'
import { batchPerTurn, type Batched } from '../db/turn-batch.js'
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

/** The token's columns, in `TokenRecord`'s order: `recordOf` reads them by position. */
const TOKEN_COLUMNS = ['id', 'subject', 'created_at', 'expires_at', 'last_used_at', 'ttl_ms', 'device', 'scopes']
/** Then the position of its digest among the statement's (from 1), which matches a row to its lookups. */
const ORDINAL_AT = TOKEN_COLUMNS.length
/** Then a join's user columns. */
const USER_AT = ORDINAL_AT + 1

/**
 * The tokens of a turn's digests (`$1`), each with its digest's position (`i`). Shaped so that
 * PostgreSQL runs it from a plan made once per connection, in which each digest is one probe of
 * the digest index, whatever the size of the table:
 * - the array is read through a sub-select, so that the planner sizes it the same whether or not
 *   it knows the values (10 elements): the plan it makes without them costs the same as one made
 *   for them, so after five executions it keeps that generic plan, instead of planning every
 *   execution anew for the batch's length (which cost more than running it);
 * - each digest is looked up in its own sub-select (`LATERAL`, `OFFSET 0` keeping it apart), so
 *   that the plan probes the index once per digest: a plan for "10 digests of a table" would
 *   read the whole table when it is small (a thousand tokens), and keep doing so once it grows.
 */
const FOUND_TOKENS = `SELECT ${TOKEN_COLUMNS.map((column) => `found.${column}`).join(', ')}, d.i
  FROM unnest((SELECT $1::bytea[])) WITH ORDINALITY AS d(digest, i)
  CROSS JOIN LATERAL (SELECT ${TOKEN_COLUMNS.join(', ')} FROM tessera_tokens WHERE digest = d.digest OFFSET 0) AS found`

/**
 * The lookup of a turn's digests, with a join's user after each token when there is one. The
 * tokens are found first (`MATERIALIZED`), then joined to the users, once for the whole batch.
 */
export function lookupStatement (join?: UserJoin<unknown>): { name: string, text: string } {
  if (join === undefined) return { name: LOOKUP_STATEMENT_NAME, text: FOUND_TOKENS }
  return {
    name: `${LOOKUP_STATEMENT_NAME}_${join.name}`,
    text: `WITH t AS MATERIALIZED (${FOUND_TOKENS})
  SELECT ${TOKEN_COLUMNS.map((column) => `t.${column}`).join(', ')}, t.i, ${join.columns.join(', ')} FROM t ${join.join}`
  }
}

/**
 * Runs a named statement on a pooled connection with tessera's type parsers and returns its rows
 * as arrays, beside the columns' names (`database.ts` provides it).
 */
export type NamedQuery = (
  statement: { name: string, text: string, values: unknown[] }
) => Promise<{ fields: ReadonlyArray<{ name: string }>, rows: unknown[][] }>

type FindRow = Batched<string, unknown[]>

export class PostgresTokenLookup implements TokenLookup {
  readonly cacheOffReason = undefined
  readonly #query: NamedQuery
  readonly #findRow: FindRow
  /** The batched lookup of each join asked for (a store has one). */
  readonly #joined = new Map<UserJoin<unknown>, FindRow>()
  readonly #tombstoneText: string
  /** Uses waiting to be written, by token id: one write per token per turn. */
  readonly #uses = new Map<string, PendingUse>()
  /** The write sent and not yet answered: one at a time, the uses recorded meanwhile go in the next. */
  #writing: Promise<void> | undefined

  /** @param tombstoneText the select of a tombstone's reason by digest (`$1`) and end bound (`$2`). */
  constructor (query: NamedQuery, tombstoneText: string) {
    this.#query = query
    this.#tombstoneText = tombstoneText
    this.#findRow = this.#batched(lookupStatement())
  }

  /**
   * One query for the lookups of one statement that arrived since the last one was sent: each
   * digest once, its row (if any) handed to every lookup of it, which builds its own record from
   * it. One query at a time (`oneAtATime`): the lookups that arrive while one is out go together
   * when it answers, so that under load a query serves many requests (each query costs both
   * processes system calls and wake-ups, which cost more than its rows); an idle server still
   * sends a lookup at once.
   */
  #batched (statement: { name: string, text: string }): FindRow {
    return batchPerTurn(async (digests: string[]) => {
      const { rows } = await this.#query({ ...statement, values: [digests.map(digestBytes)] })
      const found = new Map<string, unknown[]>()
      for (const row of rows) found.set(digests[(row[ORDINAL_AT] as number) - 1]!, row)
      return found
    }, { oneAtATime: true })
  }

  async find (digest: string): Promise<TokenRecord | undefined> {
    const row = await this.#findRow(digest)
    return row === undefined ? undefined : recordOf(row)
  }

  async findWithUser<User> (digest: string, join: UserJoin<User>): Promise<RecordWithUser<User> | undefined> {
    let findRow = this.#joined.get(join)
    if (findRow === undefined) this.#joined.set(join, findRow = this.#batched(lookupStatement(join)))
    const row = await findRow(digest)
    if (row === undefined) return undefined
    return recordWithUserOf(row, row[USER_AT] === null ? null : join.toUser(row, USER_AT))
  }

  async findTombstone (digest: string, since: number): Promise<string | undefined> {
    const { rows } = await this.#query({ name: TOMBSTONE_STATEMENT_NAME, text: this.#tombstoneText, values: [digestBytes(digest), since] })
    return rows[0]?.[0] as string | undefined
  }

  /**
   * Records a use without making the request wait: the uses of one turn are written by one
   * statement, after the turn (so a use costs a request no round trip of its own). One write is
   * out at a time: the uses recorded while it is go together in the next, so that a busy server
   * holds one pool connection for its uses, not one per turn, and each write carries more of them.
   */
  recordUse (record: TokenRecord, lastUsedAt: number, expiresAt: number | null, lastUsedIp: string | null, onError: (error: unknown) => void): void {
    this.#uses.set(record.id, { record, lastUsedAt, expiresAt, lastUsedIp, onError })
    if (this.#uses.size === 1 && this.#writing === undefined) setImmediate(this.#sendUses)
  }

  /** Sends the uses waiting, unless a write is out (its end sends them). */
  readonly #sendUses = (): void => {
    if (this.#writing !== undefined || this.#uses.size === 0) return
    const uses = [...this.#uses.values()]
    this.#uses.clear()
    const values = [
      uses.map((use) => use.record.id), uses.map((use) => use.lastUsedAt), uses.map((use) => use.expiresAt), uses.map((use) => use.lastUsedIp)
    ]
    this.#writing = this.#query({ ...TOUCH_STATEMENT, values }).then(() => {}, (error: unknown) => {
      // Best effort: the requests were answered; the next uses try again.
      for (const use of uses) use.onError(error)
    }).finally(() => {
      this.#writing = undefined
      this.#sendUses()
    })
  }

  /**
   * Resolves once every use recorded so far is written: in at most two writes, the one out (whose
   * end sends the uses waiting) and the next; later uses do not hold it back.
   */
  async flushUses (): Promise<void> {
    if (this.#writing !== undefined) await this.#writing
    this.#sendUses()
    if (this.#writing !== undefined) await this.#writing
  }

  /**
   * Answers the lookups still waiting (one held back by the query before it would otherwise reach
   * the pool after it ended), then writes the uses recorded so far.
   */
  async close (): Promise<void> {
    await Promise.all([this.#findRow, ...this.#joined.values()].map(async (findRow) => await findRow.settled()))
    await this.flushUses()
  }
}

/** A token's columns, read by position (`TOKEN_COLUMNS`). */
function recordOf (row: unknown[]): TokenRecord {
  return {
    id: row[0] as string,
    subject: row[1] as string,
    createdAt: row[2] as number,
    expiresAt: row[3] as number | null,
    lastUsedAt: row[4] as number | null,
    ttl: row[5] as number | null,
    device: row[6] as string,
    scopes: row[7] as string
  }
}

/** The same, with the user a join read: the record itself gains it (no second object per request). */
function recordWithUserOf<User> (row: unknown[], user: User | null): RecordWithUser<User> {
  const record: TokenRecord & { user?: User | null } = recordOf(row)
  record.user = user
  return record as RecordWithUser<User>
}
