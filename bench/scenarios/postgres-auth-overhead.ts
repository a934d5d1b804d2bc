/**
 * 1b. Auth overhead on PostgreSQL: `authOverhead`'s open-versus-protected measurement with the
 * server on PostgreSQL (a fresh schema, dropped after), on one instance, and on two instances
 * sharing the database with the load split between them. Its target (issue 14) is the whole cost
 * of an authenticated request — the tessera process plus the PostgreSQL backends serving it, CPU
 * per request — at most twice the SQLite path's, measured in the same run, interleaved: the
 * protected route of a server on a SQLite file seeded alike.
 */
import { loadAcross, type LoadResult } from '../load.js'
import { createBenchSchema } from '../postgres.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type Comparison, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget, type Target } from '../target.js'

export interface PostgresAuthOverheadFigures {
  sqliteProtected: LoadResult
  oneInstance: { open: LoadResult, protected: LoadResult }
  twoInstances: { open: LoadResult, protected: LoadResult }
}

const SEED = { tokens: 1000, knownTokens: 100, users: 100 }

/** CPU per request, the server's and the database's together. */
const wholeCpu = (result: LoadResult): number => result.cpuMicrosPerRequest + result.databaseCpuMicrosPerRequest

const cpuParts = (result: LoadResult): string =>
  `${fixed(result.cpuMicrosPerRequest, 1)} µs tessera + ${fixed(result.databaseCpuMicrosPerRequest, 1)} µs postgres`

export async function postgresAuthOverhead (context: ScenarioContext): Promise<ScenarioResult<PostgresAuthOverheadFigures>> {
  const { quick, progress } = context
  const schema = await createBenchSchema('tessera_bench')
  const targets: Target[] = []
  try {
    const { tokens } = await seed(context.directory, 'postgres-auth-overhead', { ...SEED, databaseUrl: schema.url(`${schema.name}_seed`) })
    const sqlite = await seed(context.directory, 'postgres-auth-overhead-sqlite', SEED)
    const start = async (started: Promise<Target>): Promise<Target> => {
      const target = await started
      targets.push(target)
      return target
    }
    const onSqlite = await start(startTarget(sqlite.databaseUrl))
    const one = await start(schema.startTarget(`${schema.name}_one`))
    const two = [await start(schema.startTarget(`${schema.name}_two_a`)), await start(schema.startTarget(`${schema.name}_two_b`))]

    const run = (on: readonly Target[], path: string, sqliteTokens = false) => async () =>
      await loadAcross(on, { path, tokens: sqliteTokens ? sqlite.tokens : tokens, connections: 10, durationS: quick ? 1 : 5 })
    const sides = [
      run([onSqlite], '/bench/protected', true),
      run([one], '/bench/open'), run([one], '/bench/protected'),
      run(two, '/bench/open'), run(two, '/bench/protected')
    ]
    progress('postgres auth overhead: warming up')
    for (const side of sides) await side()
    progress('postgres auth overhead: measuring, SQLite, one instance and two in turn')
    const [sqliteProtected, oneOpen, oneProtected, twoOpen, twoProtected] = await interleave(quick ? 2 : 5, sides)
    for (const [what, result] of Object.entries({ sqliteProtected, oneOpen, oneProtected, twoOpen, twoProtected })) {
      assertClean(`postgres auth overhead, ${what}`, result!)
    }

    const comparisons: Comparison[] = []
    for (const [label, open, protectedRoute] of [['one instance', oneOpen!, oneProtected!], ['two instances', twoOpen!, twoProtected!]] as const) {
      const cpuRatio = wholeCpu(protectedRoute) / wholeCpu(sqliteProtected!)
      comparisons.push({
        what: `${label}: CPU per request (tessera + postgres), PostgreSQL / SQLite protected`,
        baseline: `${fixed(sqliteProtected!.cpuMicrosPerRequest, 1)} µs`,
        candidate: cpuParts(protectedRoute),
        ratio: cpuRatio,
        target: '≤ 2',
        met: cpuRatio <= 2
      }, {
        what: `${label}: throughput, protected / open`,
        baseline: throughput(open),
        candidate: throughput(protectedRoute),
        ratio: protectedRoute.requestsPerS / open.requestsPerS,
        target: '(reported)',
        met: true
      }, {
        what: `${label}: throughput, PostgreSQL / SQLite protected`,
        baseline: throughput(sqliteProtected!),
        candidate: throughput(protectedRoute),
        ratio: protectedRoute.requestsPerS / sqliteProtected!.requestsPerS,
        target: '(reported)',
        met: true
      })
    }
    return {
      figures: {
        sqliteProtected: sqliteProtected!,
        oneInstance: { open: oneOpen!, protected: oneProtected! },
        twoInstances: { open: twoOpen!, protected: twoProtected! }
      },
      ratio: comparisons[0]!.ratio,
      comparisons
    }
  } finally {
    await Promise.all(targets.map(async (target) => await target.stop()))
    await schema.drop()
  }
}
