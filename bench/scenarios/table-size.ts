/**
 * 2. Table size: the protected route with 1 000, 100 000 and 1 000 000 live tokens in the table
 * (`--quick`: 1 000 and 100 000), one server per table, runs interleaved across the sizes.
 * 1 000 clients present tokens spread evenly over the whole table, in turn.
 *
 * Measured twice: as configured by default (the token cache answers most requests), and with the
 * cache off (`TESSERA_TOKEN_CACHE_SIZE=0`), where every request descends the digest index: that is
 * the figure that shows how the lookup itself scales. Also reports each server's peak RSS, for the
 * memory scenario.
 */
import { load, type LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type Comparison, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget, type Target } from '../target.js'

export interface TableSizeFigures {
  sizes: Array<{ tokens: number, result: LoadResult, peakRssBytes: number }>
  /** The same tables, with the token cache off. */
  uncached: Array<{ tokens: number, result: LoadResult }>
}

export async function tableSize ({ quick, directory, progress }: ScenarioContext): Promise<ScenarioResult<TableSizeFigures>> {
  const sizes = quick ? [1000, 100_000] : [1000, 100_000, 1_000_000]
  const targets: Target[] = []
  const uncachedTargets: Target[] = []
  try {
    const pools: string[][] = []
    for (const tokens of sizes) {
      progress(`table size: seeding ${fixed(tokens)} tokens`)
      const seeded = await seed(directory, `table-${tokens}`, { tokens, knownTokens: 1000, users: 1000 })
      targets.push(await startTarget(seeded.databaseUrl))
      uncachedTargets.push(await startTarget(seeded.databaseUrl, { TESSERA_TOKEN_CACHE_SIZE: '0' }))
      pools.push(seeded.tokens)
    }
    const run = (target: Target, pool: string[]) => async () =>
      await load(target, { path: '/bench/protected', tokens: pool, connections: 10, durationS: quick ? 1 : 5 })
    const cachedRuns = sizes.map((_, i) => run(targets[i]!, pools[i]!))
    const uncachedRuns = sizes.map((_, i) => run(uncachedTargets[i]!, pools[i]!))
    if (!quick) {
      progress('table size: warming up')
      for (const side of [...cachedRuns, ...uncachedRuns]) await side()
    }
    progress(`table size: measuring ${sizes.map((size) => fixed(size)).join(', ')} in turn, with the cache and without`)
    const results = await interleave(quick ? 2 : 3, [...cachedRuns, ...uncachedRuns])
    const peaks = await Promise.all(targets.map(async (target) => (await target.usage()).peakRssBytes))
    const figures: TableSizeFigures = {
      sizes: sizes.map((tokens, i) => ({ tokens, result: results[i]!, peakRssBytes: peaks[i]! })),
      uncached: sizes.map((tokens, i) => ({ tokens, result: results[sizes.length + i]! }))
    }
    for (const { tokens, result } of [...figures.sizes, ...figures.uncached]) assertClean(`${tokens} tokens`, result)
    const compare = (rows: TableSizeFigures['uncached'], label: string, judged: boolean): Comparison[] => {
      const small = rows[0]!
      return rows.slice(1).reverse().map(({ tokens, result }, i) => {
        const ratio = result.requestsPerS / small.result.requestsPerS
        const headline = judged && i === 0
        return {
          what: `protected route${label}, ${fixed(tokens)} / ${fixed(small.tokens)} tokens`,
          baseline: throughput(small.result),
          candidate: throughput(result),
          ratio,
          target: headline ? '≥ 0.90' : '(reported)',
          met: !headline || ratio >= 0.9
        }
      })
    }
    const comparisons = [...compare(figures.sizes, '', true), ...compare(figures.uncached, ' without the cache', false)]
    return { figures, ratio: comparisons[0]!.ratio, comparisons }
  } finally {
    await Promise.all([...targets, ...uncachedTargets].map(async (target) => await target.stop()))
  }
}
