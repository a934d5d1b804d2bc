/**
 * Queries that Kysely builds and compiles once, then runs many times with new values: for the
 * writes of the hot paths (a logout), where building and compiling a query with Kysely costs more
 * CPU than SQLite takes to run it. The SQL is still Kysely's, for the database's own dialect, and
 * it still runs through Kysely, in whatever transaction it is given.
 *
 * ```ts
 * const deleteOwn = precompile(kysely, (db, id: string, subject: string) =>
 *   db.deleteFrom('tessera_tokens').where('id', '=', id).where('subject', '=', subject))
 * await deleteOwn(trx, tokenId, subject)
 * ```
 */
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely'
import type { Tables } from './schema.js'

/**
 * Stands for an argument of `build` while the query is compiled: it becomes a parameter. One that
 * `build` computes with (`since - 1000`, `` `user:${subject}` ``) would bake a single value into
 * the SQL: that throws instead.
 */
class Argument {
  constructor (readonly index: number) {}

  [Symbol.toPrimitive] (): never {
    throw new Error(`precompile: argument ${this.index + 1} is used in a computation; pass it to the query as it is`)
  }
}

/** Where each parameter of the compiled SQL comes from: an argument (its index), or a value of the query itself. */
type Slot = { argument: number } | { value: unknown }

export type Precompiled<Args extends unknown[], Row> = (db: Kysely<Tables>, ...args: Args) => Promise<QueryResult<Row>>

/**
 * Returns a function that runs the query `build` makes, compiled for the dialect of `kysely` on its
 * first call, with the given arguments on `db` (a transaction, or the instance itself) of the same
 * database. (On the first call, not now: what holds one may be made before its database is usable,
 * or without one, as in tests that never write.)
 *
 * `build` is called once, with stand-ins for its arguments: it must pass each one as a plain value
 * (`where('id', '=', id)`, a column of `values`), never inspect one nor branch on it, so that every
 * call would have built the same SQL. Declare every argument (no rest or default parameters): their
 * number is read from `build.length`.
 * The first call rejects, and every later one, if an argument did not become a parameter of the SQL.
 */
export function precompile<Args extends unknown[], Row> (
  kysely: Kysely<Tables>,
  build: (db: Kysely<Tables>, ...args: Args) => Compilable<Row>
): Precompiled<Args, Row> {
  let compiled: { sql: string, slots: Slot[] } | undefined
  return async (db, ...args) => {
    compiled ??= compile(kysely, build)
    const { sql, slots } = compiled
    return await db.executeQuery(
      CompiledQuery.raw(sql, slots.map((slot) => 'argument' in slot ? args[slot.argument] : slot.value)) as CompiledQuery<Row>
    )
  }
}

function compile<Args extends unknown[], Row> (
  kysely: Kysely<Tables>,
  build: (db: Kysely<Tables>, ...args: Args) => Compilable<Row>
): { sql: string, slots: Slot[] } {
  const stand = Array.from({ length: build.length - 1 }, (_, index) => new Argument(index))
  const { sql, parameters } = build(kysely, ...(stand as unknown as Args)).compile()
  const slots: Slot[] = parameters.map((parameter) => parameter instanceof Argument ? { argument: parameter.index } : { value: parameter })
  for (const { index } of stand) {
    if (!slots.some((slot) => 'argument' in slot && slot.argument === index)) {
      throw new Error(`precompile: argument ${index + 1} is not a parameter of ${JSON.stringify(sql)}`)
    }
  }
  return { sql, slots }
}
