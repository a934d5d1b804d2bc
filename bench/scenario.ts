/** What every scenario receives and returns, and the interleaving that keeps its ratios fair. */
import { combine, type LoadResult } from './load.js'

export interface ScenarioContext {
  /** `--quick`: shorter runs and smaller tables, for a run under a minute. */
  quick: boolean
  /** A temporary directory for the scenario's databases. */
  directory: string
  /** Progress, on stderr. */
  progress: (line: string) => void
}

/** One line of the report: a candidate measured against its baseline, and the target it has to meet. */
export interface Comparison {
  what: string
  baseline: string
  candidate: string
  ratio: number
  target: string
  met: boolean
}

export interface ScenarioResult<Figures extends object = object> {
  /** Everything measured, for `bench/results.json`. */
  figures: Figures
  /** The scenario's headline ratio (the first comparison's). */
  ratio: number
  comparisons: Comparison[]
}

/**
 * Runs each side once per round, alternating (A, B, A, B …), so that whatever else the shared
 * machine does in the meantime disturbs every side alike; returns each side's runs combined.
 */
export async function interleave (rounds: number, sides: ReadonlyArray<() => Promise<LoadResult>>): Promise<LoadResult[]> {
  const runs: LoadResult[][] = sides.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (const [i, side] of sides.entries()) runs[i]!.push(await side())
  }
  return runs.map(combine)
}

/** Refuses a run in which the server answered anything but 2xx: its figures would be meaningless. */
export function assertClean (what: string, result: LoadResult): void {
  if (result.failures > 0) throw new Error(`${what}: ${result.failures} of ${result.requests} requests failed`)
}

export const fixed = (value: number, digits = 0): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** `12 345 req/s, 22.1 µs CPU/req` */
export const throughput = (result: LoadResult): string =>
  `${fixed(result.requestsPerS)} req/s, ${fixed(result.cpuMicrosPerRequest, 1)} µs CPU/req`
