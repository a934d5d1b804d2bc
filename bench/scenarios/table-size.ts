/**
 * 2. Table size: the protected route with 1 000, 100 000 and 1 000 000 live tokens in the table
 * (`--quick`: 1 000 and 100 000), one server per table, runs interleaved across the sizes.
 * 1 000 clients present tokens spread evenly over the whole table, in turn.
 *
 * Also reports each server's peak RSS, for the memory scenario.
 */
import { load, type LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget, type Target } from '../target.js'

export interface TableSizeFigures {
  sizes: Array<{ tokens: number, result: LoadResult, peakRssBytes: number }>
}

export async function tableSize ({ quick, directory, progress }: ScenarioContext): Promise<ScenarioResult<TableSizeFigures>> {
  const sizes = quick ? [1000, 100_000] : [1000, 100_000, 1_000_000]
  const targets: Target[] = []
  try {
    const pools: string[][] = []
    for (const tokens of sizes) {
      progress(`table size: seeding ${fixed(tokens)} tokens`)
      const seeded = await seed(directory, `table-${tokens}`, { tokens, knownTokens: 1000, users: 1000 })
      targets.push(await startTarget(seeded.databaseUrl))
      pools.push(seeded.tokens)
    }
    const run = (i: number) => async () =>
      await load(targets[i]!, { path: '/bench/protected', tokens: pools[i]!, connections: 10, durationS: quick ? 2 : 5 })
    progress('table size: warming up')
    for (const i of sizes.keys()) await run(i)()
    progress(`table size: measuring ${sizes.map((size) => fixed(size)).join(', ')} in turn`)
    const results = await interleave(quick ? 2 : 3, sizes.map((_, i) => run(i)))
    const peaks = await Promise.all(targets.map(async (target) => (await target.usage()).peakRssBytes))
    const figures: TableSizeFigures = {
      sizes: sizes.map((tokens, i) => ({ tokens, result: results[i]!, peakRssBytes: peaks[i]! }))
    }
    figures.sizes.forEach(({ tokens, result }) => assertClean(`${tokens} tokens`, result))
    const small = figures.sizes[0]!
    const large = figures.sizes.at(-1)!
    const ratio = large.result.requestsPerS / small.result.requestsPerS
    return {
      figures,
      ratio,
      comparisons: [{
        what: `protected route, ${fixed(large.tokens)} / ${fixed(small.tokens)} tokens in the table`,
        baseline: throughput(small.result),
        candidate: throughput(large.result),
        ratio,
        target: '≥ 0.90',
        met: ratio >= 0.9
      }, ...figures.sizes.slice(1, -1).map(({ tokens, result }) => ({
        what: `protected route, ${fixed(tokens)} / ${fixed(small.tokens)} tokens in the table`,
        baseline: throughput(small.result),
        candidate: throughput(result),
        ratio: result.requestsPerS / small.result.requestsPerS,
        target: '(reported)',
        met: true
      }))]
    }
  } finally {
    await Promise.all(targets.map(async (target) => await target.stop()))
  }
}
