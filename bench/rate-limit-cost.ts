/**
 * What counting a rate limit in PostgreSQL costs (README "How the limits count"): the counter's
 * upsert per counted request, against a bare `SELECT 1` round trip on the same pool and against
 * the memory counter SQLite uses. A login is counted twice (its address, then its username), one
 * after the other, so a login pays two of these; an authenticated request to tessera's routes
 * pays one.
 *
 * Not part of `npm run bench` (whose scenarios run on SQLite). On a fresh schema of the server at
 * `BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`), dropped afterwards:
 *
 * ```sh
 * npx tsc -p tsconfig.bench.json && node dist/bench/rate-limit-cost.js
 * ```
 */
import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import { openDatabase } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { DatabaseWindowCounter } from '../src/http/database-window-counter.js'
import { FixedWindowCounter } from '../src/http/fixed-window-counter.js'
import { fixed } from './scenario.js'

const SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
/** Operations per side per round, one in flight (latency), then 8 in flight (throughput). */
const SERIAL = 1000
const CONCURRENT = 8
const ROUNDS = 3

interface Side {
  name: string
  run: (i: number) => Promise<unknown>
}

interface Figures {
  p50Us: number
  p99Us: number
  /** This process's CPU (user + system) per operation: tessera's own cost, not the server's. */
  cpuUs: number
  /** Operations per second with `CONCURRENT` in flight. */
  perS: number
}

async function measure (side: Side, offset: number): Promise<Figures> {
  const latencies: number[] = []
  const cpu = process.cpuUsage()
  for (let i = 0; i < SERIAL; i++) {
    const started = performance.now()
    await side.run(offset + i)
    latencies.push(performance.now() - started)
  }
  const used = process.cpuUsage(cpu)
  latencies.sort((a, b) => a - b)
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENT }, async () => {
    while (next < SERIAL) await side.run(offset + SERIAL + next++)
  }))
  return {
    p50Us: latencies[Math.floor(SERIAL * 0.5)]! * 1000,
    p99Us: latencies[Math.floor(SERIAL * 0.99)]! * 1000,
    cpuUs: (used.user + used.system) / SERIAL,
    perS: SERIAL / ((performance.now() - started) / 1000)
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

async function main (): Promise<void> {
  const schema = `tessera_bench_${process.pid}_${randomBytes(3).toString('hex')}`
  const admin = new pg.Client({ connectionString: SERVER })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  const url = new URL(SERVER)
  url.searchParams.set('options', `-c search_path=${schema}`)
  const database = openDatabase(url.toString(), { poolSize: CONCURRENT })
  try {
    await migrateToLatest(database.kysely)
    const rate = { max: 10, windowMs: 60_000 }
    const shared = new DatabaseWindowCounter(database.kysely, rate, { name: 'login-username' })
    const memory = new FixedWindowCounter(rate, { maxKeys: 1_000_000 })
    const sides: Side[] = [
      { name: 'SELECT 1 (a bare round trip)', run: async () => await sql`SELECT 1`.execute(database.kysely) },
      { name: 'upsert, one key (a username under attack)', run: async () => await shared.hit('victim') },
      { name: 'upsert, a new key each time (a spray)', run: async (i) => await shared.hit(`user${i}`) },
      { name: 'memory counter (SQLite), a new key each time', run: async (i) => memory.hit(`user${i}`) }
    ]
    for (const side of sides) await measure(side, 10_000_000) // warm-up
    const runs: Figures[][] = sides.map(() => [])
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, side] of sides.entries()) runs[i]!.push(await measure(side, round * 2 * SERIAL))
    }
    const { rows } = await sql<{ version: string }>`SELECT version()`.execute(database.kysely)
    console.log(`${rows[0]!.version.split(' ').slice(0, 2).join(' ')} at ${url.host}; medians of ${ROUNDS} interleaved rounds of ${SERIAL}`)
    console.log('| what | p50 µs | p99 µs | µs CPU here | per s, 8 in flight |')
    console.log('|---|---|---|---|---|')
    for (const [i, side] of sides.entries()) {
      const of = (key: keyof Figures): number => median(runs[i]!.map((figures) => figures[key]))
      console.log(`| ${side.name} | ${fixed(of('p50Us'))} | ${fixed(of('p99Us'))} | ${fixed(of('cpuUs'), 1)} | ${fixed(of('perS'))} |`)
    }
    const swept = await shared.sweep()
    console.log(`(then one sweep deleted ${swept} ended windows)`)
  } finally {
    await database.close()
    await admin.query(`DROP SCHEMA ${schema} CASCADE`)
    await admin.end()
  }
}

await main()
