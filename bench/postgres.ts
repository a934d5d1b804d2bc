/**
 * PostgreSQL for the benchmark: a fresh schema on the server at `BENCH_POSTGRES_URL` (default
 * `postgres://postgres@127.0.0.1:5432/test`, the test suite's), dropped after the scenario, and
 * the CPU time of the PostgreSQL backends serving one target, read from `/proc` (the server must
 * run on this machine): tessera's cost on PostgreSQL is its own process plus those backends.
 *
 * Each target connects with its own `application_name`, so that its backends can be told apart
 * in `pg_stat_activity` from the other targets' and from the seeding's.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import pg from 'pg'
import { startTarget, type Target } from './target.js'

export const BENCH_POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Clock ticks per second in `/proc/<pid>/stat` (USER_HZ, 100 on Linux everywhere that matters). */
const TICKS_PER_S = 100

export interface BenchSchema {
  readonly name: string
  /** A URL whose connections use only this schema, and carry `applicationName`. */
  url: (applicationName: string) => string
  /** A tessera server on this schema, whose backends' CPU time it reports. */
  startTarget: (applicationName: string, env?: Record<string, string>) => Promise<Target>
  /** Drops the schema and everything in it, and closes the admin connection. */
  drop: () => Promise<void>
}

export async function createBenchSchema (prefix: string): Promise<BenchSchema> {
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`
  const admin = new pg.Client({ connectionString: BENCH_POSTGRES_URL, application_name: `${name}_admin` })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${name}`)
  const url = (applicationName: string): string => {
    const parsed = new URL(BENCH_POSTGRES_URL)
    parsed.searchParams.set('options', `-c search_path=${name}`)
    parsed.searchParams.set('application_name', applicationName)
    return parsed.toString()
  }
  return {
    name,
    url,
    startTarget: async (applicationName, env = {}) => {
      const target = await startTarget(url(applicationName), env)
      return { ...target, databaseCpuMicros: backendsCpu(admin, applicationName) }
    },
    drop: async () => {
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`)
      } finally {
        await admin.end()
      }
    }
  }
}

/**
 * A counter of the CPU time (user + system, µs) used by the backends with this
 * `application_name`: each reading adds what every backend used since the last reading (all of
 * it for a backend seen for the first time). A backend that closes between two readings takes
 * its last moments with it; the bench servers' pools keep theirs open for the length of a run
 * (they close idle ones after 10 s).
 */
function backendsCpu (admin: pg.Client, applicationName: string): () => Promise<number> {
  const last = new Map<number, number>()
  let total = 0
  return async () => {
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [applicationName])
    const seen = new Map<number, number>()
    for (const { pid } of rows) {
      let stat: string
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
      } catch {
        continue // gone meanwhile
      }
      // After the command name in parentheses (which may hold spaces): field 3 onwards; utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const micros = (Number(fields[11]) + Number(fields[12])) * (1_000_000 / TICKS_PER_S)
      total += micros - (last.get(pid) ?? 0)
      seen.set(pid, micros)
    }
    last.clear()
    for (const [pid, micros] of seen) last.set(pid, micros)
    return total
  }
}
