/**
 * Recognises errors that mean "the database cannot serve right now" (locked past the busy
 * timeout, disk full, connection refused or lost), as opposed to bugs. Those reach the client as
 * 503 and the service recovers by itself once the database does.
 */

/** SQLite result codes (better-sqlite3's `code`) that are about the database's state, not the query. */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL|NOMEM)/

/** PostgreSQL SQLSTATE classes: 08 connection, 53 insufficient resources, 57 operator intervention (shutdown). */
const POSTGRES_UNAVAILABLE = /^(08|53|57)/

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'])

const MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /The database connection is not open/i,
  /driver has already been destroyed/i,
  // pg's own pool, used directly by the batched PostgreSQL lookups, once the database is closed.
  /Cannot use a pool after calling end on the pool/i,
  /Client has encountered a connection error/i
]

export function isDatabaseUnavailable (error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    if (SQLITE_UNAVAILABLE.test(code) || NETWORK_CODES.has(code)) return true
    if (/^[0-9A-Z]{5}$/.test(code) && POSTGRES_UNAVAILABLE.test(code)) return true
  }
  if (MESSAGES.some((pattern) => pattern.test(error.message))) return true
  return error.cause !== undefined && error.cause !== error && isDatabaseUnavailable(error.cause)
}

export const DATABASE_UNAVAILABLE_MESSAGE = 'The database is not available right now; try again shortly.'

/** A database outage, as the client sees it: 503 with a clear message (the cause is logged). */
export class DatabaseUnavailableError extends Error {
  readonly statusCode = 503
  readonly code = 'DATABASE_UNAVAILABLE'
  constructor (cause: unknown) {
    super(DATABASE_UNAVAILABLE_MESSAGE, { cause })
    this.name = 'DatabaseUnavailableError'
  }
}
