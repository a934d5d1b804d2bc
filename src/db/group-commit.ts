/**
 * Group commit for SQLite: the write transactions that arrive in one event-loop turn (logins,
 * logouts, revocations) run as one transaction, so they share one commit and its fsync
 * (`synchronous=FULL` is kept: each caller is answered only once the commit is durable).
 *
 * Each write runs inside a savepoint of its own: one that fails (a token limit, a changed password)
 * is rolled back alone and rejects only its caller; the others still commit. If the commit itself
 * fails, every write of the group is rejected: none of them happened.
 *
 * SQLite has one writer at a time, and each commit costs an fsync; PostgreSQL already overlaps
 * concurrent transactions' flushes, so there every write is its own transaction.
 */
import { CompiledQuery, type Kysely, type Transaction } from 'kysely'
import type { Tables } from './schema.js'

export type Write<T, DB = Tables> = (trx: Transaction<DB>) => Promise<T>
/** Runs a write in a transaction and resolves once it is committed. */
export type Transact<DB = Tables> = <T>(write: Write<T, DB>) => Promise<T>

interface QueuedWrite<DB> {
  write: Write<unknown, DB>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

type Outcome = { ok: true, value: unknown } | { ok: false, error: unknown }

export function transactionPerWrite<DB> (kysely: Kysely<DB>): Transact<DB> {
  return async (write) => await kysely.transaction().execute(write)
}

export function groupCommit<DB> (kysely: Kysely<DB>): Transact<DB> {
  let queue: Array<QueuedWrite<DB>> = []

  const commit = async (): Promise<void> => {
    const group = queue
    queue = []
    if (group.length === 1) {
      const { write, resolve, reject } = group[0]!
      kysely.transaction().execute(write).then(resolve, reject)
      return
    }
    let outcomes: Outcome[]
    try {
      outcomes = await kysely.transaction().execute(async (trx) => {
        const done: Outcome[] = []
        for (const { write } of group) done.push(await inSavepoint(trx, write))
        return done
      })
    } catch (error) {
      for (const { reject } of group) reject(error)
      return
    }
    group.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) resolve(outcome.value)
      else reject(outcome.error)
    })
  }

  return async <T>(write: Write<T, DB>): Promise<T> => await new Promise<T>((resolve, reject) => {
    const queued = { write, resolve, reject } as QueuedWrite<DB>
    if (queue.push(queued) === 1) setImmediate(() => { void commit() })
  })
}

/**
 * Runs one write of a group; its failure undoes its own changes only. A failure of the savepoint
 * commands themselves (the database refused to go on) fails the whole group.
 */
async function inSavepoint<DB> (trx: Transaction<DB>, write: Write<unknown, DB>): Promise<Outcome> {
  await run(trx, 'SAVEPOINT tessera_write')
  try {
    const value = await write(trx)
    await run(trx, 'RELEASE SAVEPOINT tessera_write')
    return { ok: true, value }
  } catch (error) {
    await run(trx, 'ROLLBACK TO SAVEPOINT tessera_write')
    await run(trx, 'RELEASE SAVEPOINT tessera_write')
    return { ok: false, error }
  }
}

/** Runs a fixed command: the same text every time (prepared once, see `statement-cache.ts`), nothing to build. */
async function run<DB> (trx: Transaction<DB>, command: string): Promise<void> {
  await trx.executeQuery(CompiledQuery.raw(command))
}
