/**
 * 1c. Many active users with default settings (issue 14): 5 000 users with a token each, every
 * client cycling through all 5 000 tokens, on `GET /bench/protected`, with the default
 * `TESSERA_MIN_REFRESH_INTERVAL` (60 s) — `lastUsedAt` writes on, where the other scenarios turn
 * them off. Two sides on one server, interleaved, each run of PASSES passes over the tokens:
 *
 *   all-fresh   every token used within the last minute: no request writes
 *   realistic   every token's last use one interval ago: each token's first use in the run writes
 *               its `lastUsedAt` (one request in PASSES)
 *
 * Before each run the scenario sets every token's `last_used_at` directly (SQL on the bench
 * database, from this process), which on SQLite empties the server's token cache, then makes one
 * unmeasured warm pass over the tokens, so that both sides run on a warm cache, as a busy server
 * does: the realistic side's tokens are set to fall due only after their warm pass (`slack`
 * later), and the run waits for that. After every run it counts the rows the server wrote: all
 * 5 000 on the realistic side, none on the all-fresh side, or the target is not met.
 *
 * Target: the realistic side's throughput ≥ 0.9 of the all-fresh side's, on SQLite and on
 * PostgreSQL (a fresh schema on `BENCH_POSTGRES_URL`, dropped after; skipped, and said so, when
 * that server cannot be reached).
 */
import { sql, type RawBuilder } from 'kysely'
import { openDatabase, type Database } from '../../src/db/database.js'
import { DEFAULT_SETTINGS, formatDuration } from '../../src/settings.js'
import { load, type LoadResult } from '../load.js'
import { createBenchSchema, type BenchSchema } from '../postgres.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type Comparison, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget, type Target } from '../target.js'

const TOKENS = 5000
const SEED = { tokens: TOKENS, knownTokens: TOKENS, users: TOKENS }
/** The service's default, spelled out: the bench servers otherwise run with 1 day (no writes). */
const MIN_REFRESH_INTERVAL_MS = DEFAULT_SETTINGS.minRefreshInterval
const SERVER_ENV = { TESSERA_MIN_REFRESH_INTERVAL: formatDuration(MIN_REFRESH_INTERVAL_MS) }
/** Requests of a measured run, in passes over the tokens: the realistic side writes once per PASSES requests. */
const PASSES = 5
const TARGET = 0.9

export interface RealisticSide {
  allFresh: LoadResult
  realistic: LoadResult
  /** Rows whose `last_used_at` the server wrote, over all measured runs of each side (not the warm passes). */
  allFreshWrites: number
  realisticWrites: number
  /** Measured runs per side: each realistic run should write every token once. */
  rounds: number
  ratio: number
}

export interface RealisticFigures {
  tokens: number
  minRefreshInterval: string
  sqlite: RealisticSide
  postgres: RealisticSide | { skipped: string }
}

async function measure (
  label: string, target: Target, tokens: readonly string[], database: Database, { quick, progress }: ScenarioContext
): Promise<RealisticSide> {
  const rounds = quick ? 2 : 5
  const writes = { allFresh: 0, realistic: 0 }
  const count = async (condition: RawBuilder<boolean>): Promise<number> => {
    const row = await database.kysely.selectFrom('tessera_tokens').select(sql<number>`count(*)`.as('n')).where(condition).executeTakeFirstOrThrow()
    return Number(row.n)
  }
  /** Sets every token's `last_used_at` directly, as `bench/seed.ts` writes (on SQLite, another connection's commit: the server's cache empties). */
  const setLastUsed = async (value: number): Promise<void> => {
    await database.kysely.updateTable('tessera_tokens').set({ last_used_at: value }).execute()
  }
  const pass = async (amount: number): Promise<LoadResult> =>
    await load(target, { path: '/bench/protected', tokens, connections: 10, amount })
  // How long the last warm pass took: the realistic side's tokens must not fall due before theirs ends.
  let warmMs = 1000
  const side = (name: keyof typeof writes) => async (): Promise<LoadResult> => {
    const mark = Date.now()
    // All-fresh: used just now. Realistic: last used one interval ago, less `slack`: not due during
    // the warm pass, all due from `mark + slack` on.
    const slack = Math.max(3000, 3 * warmMs)
    const lastUsed = name === 'allFresh' ? mark : mark - MIN_REFRESH_INTERVAL_MS + slack
    await setLastUsed(lastUsed)
    const warmStart = Date.now()
    assertClean(`${label}, ${name} warm pass`, await pass(TOKENS))
    if (name === 'allFresh') warmMs = Date.now() - warmStart
    const early = await count(sql<boolean>`last_used_at <> ${lastUsed}`)
    if (early > 0) throw new Error(`${label}: the warm pass took longer than ${slack} ms and wrote ${early} tokens before the run`)
    const wait = mark + slack + 100 - Date.now()
    if (name === 'realistic' && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const result = await pass(PASSES * TOKENS)
    writes[name] += await count(sql<boolean>`last_used_at <> ${lastUsed}`)
    return result
  }
  const sides = [side('allFresh'), side('realistic')]
  progress(`${label}: measuring, all-fresh and realistic in turn (${rounds} rounds, a warm pass before each run)`)
  const [allFresh, realistic] = await interleave(rounds, sides)
  assertClean(`${label}, all-fresh`, allFresh!)
  assertClean(`${label}, realistic`, realistic!)
  return {
    allFresh: allFresh!,
    realistic: realistic!,
    allFreshWrites: writes.allFresh,
    realisticWrites: writes.realistic,
    rounds,
    ratio: realistic!.requestsPerS / allFresh!.requestsPerS
  }
}

function comparisons (label: string, side: RealisticSide, postgres: boolean): Comparison[] {
  const { allFresh, realistic, rounds } = side
  const cpu = (result: LoadResult): number => result.cpuMicrosPerRequest + (postgres ? result.databaseCpuMicrosPerRequest : 0)
  const cpuText = (result: LoadResult): string => postgres
    ? `${fixed(result.cpuMicrosPerRequest, 1)} µs tessera + ${fixed(result.databaseCpuMicrosPerRequest, 1)} µs postgres`
    : `${fixed(result.cpuMicrosPerRequest, 1)} µs`
  const everyToken = side.realisticWrites === rounds * TOKENS && side.allFreshWrites === 0
  return [{
    what: `${label}: throughput, realistic / all-fresh (${fixed(TOKENS)} tokens)`,
    baseline: `${throughput(allFresh)}, ${fixed(side.allFreshWrites)} writes`,
    candidate: `${throughput(realistic)}, ${fixed(side.realisticWrites)} writes of ${fixed(rounds * TOKENS)} due, ` +
      `1 per ${fixed(realistic.requests / Math.max(1, side.realisticWrites), 1)} req`,
    ratio: side.ratio,
    target: `≥ ${TARGET}`,
    met: side.ratio >= TARGET && everyToken
  }, {
    what: `${label}: CPU per request, all-fresh / realistic`,
    baseline: cpuText(allFresh),
    candidate: cpuText(realistic),
    ratio: cpu(allFresh) / cpu(realistic),
    target: '(reported)',
    met: true
  }]
}

export async function realistic (context: ScenarioContext): Promise<ScenarioResult<RealisticFigures>> {
  const { directory } = context

  const seeded = await seed(directory, 'realistic', SEED)
  const sqliteTarget = await startTarget(seeded.databaseUrl, SERVER_ENV)
  const sqliteDatabase = openDatabase(seeded.databaseUrl)
  let sqlite: RealisticSide
  try {
    sqlite = await measure('realistic, SQLite', sqliteTarget, seeded.tokens, sqliteDatabase, context)
  } finally {
    await sqliteTarget.stop()
    await sqliteDatabase.close()
  }

  const postgres = await onPostgres(context)
  const rows = [
    ...comparisons('SQLite', sqlite, false),
    ...('skipped' in postgres
      ? [{ what: 'PostgreSQL', baseline: '', candidate: postgres.skipped, ratio: NaN, target: '(skipped)', met: true }]
      : comparisons('PostgreSQL', postgres, true))
  ]
  return {
    figures: { tokens: TOKENS, minRefreshInterval: SERVER_ENV.TESSERA_MIN_REFRESH_INTERVAL, sqlite, postgres },
    ratio: sqlite.ratio,
    comparisons: rows
  }
}

/** The same on a fresh PostgreSQL schema, or why it could not run. */
async function onPostgres (context: ScenarioContext): Promise<RealisticSide | { skipped: string }> {
  let schema: BenchSchema
  try {
    schema = await createBenchSchema('tessera_bench_realistic')
  } catch (error) {
    const skipped = `PostgreSQL unreachable at BENCH_POSTGRES_URL: ${error instanceof Error ? error.message : String(error)}`
    context.progress(`realistic: ${skipped}; skipped`)
    return { skipped }
  }
  let target: Target | undefined
  let database: Database | undefined
  try {
    const { tokens } = await seed(context.directory, 'realistic-postgres', { ...SEED, databaseUrl: schema.url(`${schema.name}_seed`) })
    target = await schema.startTarget(`${schema.name}_server`, SERVER_ENV)
    // Its own application_name: its backend is not charged to the server.
    database = openDatabase(schema.url(`${schema.name}_reseed`), { poolSize: 1 })
    return await measure('realistic, PostgreSQL', target, tokens, database, context)
  } finally {
    await target?.stop()
    await database?.close()
    await schema.drop()
  }
}
