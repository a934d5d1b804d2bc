/** What a migration may ask about the database it runs on. */
import { PostgresAdapter, sql, type Kysely } from 'kysely'

export function isPostgres (db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

/**
 * Whether a table of this name exists where unqualified names resolve (on PostgreSQL, the
 * search_path; on SQLite, the main database). Asks about that one name only: migrations never
 * introspect the rest of a database they share with an application.
 */
export async function tableExists (db: Kysely<any>, name: string): Promise<boolean> {
  const query = isPostgres(db)
    ? sql<{ found: number }>`SELECT 1 AS found WHERE to_regclass(${name}) IS NOT NULL`
    : sql<{ found: number }>`SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ${name}`
  return (await query.execute(db)).rows.length > 0
}
