/**
 * better-sqlite3 statements for Kysely, kept by SQL text. Kysely's SQLite driver prepares every
 * query it runs, each time; preparing (parsing the SQL, planning it) costs more than running the
 * short statements of a write. A logout runs five (savepoint, delete, tombstone, activity entry,
 * release): under group commit, preparing them was most of its CPU.
 *
 * Reusing a statement is safe in SQLite: one prepared before a schema change (a migration, an
 * application's ALTER TABLE) is prepared again by SQLite itself at its next run, and better-sqlite3
 * reads column names at each run, not at prepare. Only a statement that is being iterated (a
 * streamed query, still open) cannot run again: such a statement is passed over for a new one.
 *
 * Bounded: at most `size` statements, the least recently used dropped first; SQL longer than
 * `MAX_CACHED_SQL` (a batch insert of many rows, whose text differs with its row count) is
 * prepared each time, as before: such statements are rare and their preparation is small beside
 * their rows.
 */
import type SQLite from 'better-sqlite3'
import type { SqliteDatabase } from 'kysely'

/** Statements kept: tessera's queries, with room for the variants of their row counts. */
export const STATEMENT_CACHE_SIZE = 200
/** Longest SQL kept (characters). */
export const MAX_CACHED_SQL = 2000

export interface StatementCacheOptions {
  size?: number
  /** What Kysely's `destroy` does: closes tessera's own connection, nothing for an application's. */
  close: () => void
}

/** The database as Kysely's SQLite dialect sees it, with a statement cache in front of `prepare`. */
export function cachingStatements (sqlite: SQLite.Database, { size = STATEMENT_CACHE_SIZE, close }: StatementCacheOptions): SqliteDatabase {
  // A Map iterates in insertion order: a hit moves its statement to the end, the first is the oldest.
  const statements = new Map<string, SQLite.Statement>()
  return {
    prepare: (text) => {
      const cached = statements.get(text)
      if (cached !== undefined && !cached.busy) {
        statements.delete(text)
        statements.set(text, cached)
        return cached
      }
      const statement = sqlite.prepare(text)
      // A busy one stays where it is; its fresh twin serves this call only.
      if (cached === undefined && text.length <= MAX_CACHED_SQL && size > 0) {
        if (statements.size >= size) statements.delete(statements.keys().next().value!)
        statements.set(text, statement)
      }
      return statement
    },
    close: () => {
      statements.clear()
      close()
    }
  }
}
