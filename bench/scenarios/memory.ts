/**
 * 5. Memory: the peak RSS of the servers of scenarios 1 and 2 (getrusage's maxrss, read inside
 * each server at the end of its runs), and how it grows from 1 000 tokens in the table to the
 * largest table. The target: under 150 MB with 1 000 000 tokens.
 */
import type { ScenarioResult } from '../scenario.js'
import { fixed } from '../scenario.js'
import type { AuthOverheadFigures } from './auth-overhead.js'
import type { TableSizeFigures } from './table-size.js'

const MB = 1_000_000
const LIMIT_BYTES = 150 * MB

export function memory (
  auth: { figures: AuthOverheadFigures },
  table: { figures: TableSizeFigures }
): ScenarioResult {
  const peaks = [
    { server: 'auth overhead (1 000 tokens)', tokens: 1000, peakRssBytes: auth.figures.peakRssBytes },
    ...table.figures.sizes.map(({ tokens, peakRssBytes }) => ({ server: `table size (${fixed(tokens)} tokens)`, tokens, peakRssBytes }))
  ]
  const small = table.figures.sizes[0]!
  const large = table.figures.sizes.at(-1)!
  const ratio = large.peakRssBytes / small.peakRssBytes
  const atMillion = large.tokens >= 1_000_000
  return {
    figures: { peaks, ratio, limitBytes: LIMIT_BYTES },
    ratio,
    comparisons: [{
      what: `peak RSS, ${fixed(large.tokens)} / ${fixed(small.tokens)} tokens in the table`,
      baseline: `${fixed(small.peakRssBytes / MB, 1)} MB`,
      candidate: `${fixed(large.peakRssBytes / MB, 1)} MB`,
      ratio,
      target: atMillion ? '< 150 MB at 1 000 000' : '(1 000 000 runs without --quick)',
      met: large.peakRssBytes < LIMIT_BYTES
    }, {
      what: 'peak RSS, auth overhead server',
      baseline: '',
      candidate: `${fixed(auth.figures.peakRssBytes / MB, 1)} MB`,
      ratio: auth.figures.peakRssBytes / small.peakRssBytes,
      target: '(reported)',
      met: true
    }]
  }
}
