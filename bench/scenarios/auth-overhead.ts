/**
 * 1. Auth overhead: `GET /bench/protected` with a valid token against `GET /bench/open`, the
 * same handler without the hook, in one server process, with identical requests (the token is
 * sent to both). 100 clients, each with its own token, on a table of 1 000 live tokens.
 */
import { load, type LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget, type Target } from '../target.js'

export interface AuthOverheadFigures {
  open: LoadResult
  protected: LoadResult
  ratio: number
  cpuRatio: number
  peakRssBytes: number
}

/**
 * Warms both routes up, then measures `GET /bench/open` and a candidate route (by default
 * `GET /bench/protected`) in turn on one server, every request carrying one of `tokens`. Shared
 * with the `appUsers` and `forwardAuth` scenarios.
 */
export async function openAndCandidate (
  target: Target, tokens: readonly string[], { quick, progress }: Pick<ScenarioContext, 'quick' | 'progress'>, label: string,
  candidatePath = '/bench/protected'
): Promise<{ open: LoadResult, candidate: LoadResult }> {
  const run = (path: string) => async () => await load(target, { path, tokens, connections: 10, durationS: quick ? 1 : 5 })
  progress(`${label}: warming up`)
  await run('/bench/open')()
  await run(candidatePath)()
  progress(`${label}: measuring, /bench/open and ${candidatePath} in turn`)
  const [open, candidate] = await interleave(quick ? 2 : 5, [run('/bench/open'), run(candidatePath)])
  assertClean(`${label}, /bench/open`, open!)
  assertClean(`${label}, ${candidatePath}`, candidate!)
  return { open: open!, candidate: candidate! }
}

export async function authOverhead (context: ScenarioContext): Promise<ScenarioResult<AuthOverheadFigures>> {
  const { databaseUrl, tokens } = await seed(context.directory, 'auth-overhead', { tokens: 1000, knownTokens: 100, users: 100 })
  const target = await startTarget(databaseUrl)
  try {
    const { open, candidate: protectedRoute } = await openAndCandidate(target, tokens, context, 'auth overhead')
    const ratio = protectedRoute.requestsPerS / open.requestsPerS
    const cpuRatio = open.cpuMicrosPerRequest / protectedRoute.cpuMicrosPerRequest
    const { peakRssBytes } = await target.usage()
    return {
      figures: { open, protected: protectedRoute, ratio, cpuRatio, peakRssBytes },
      ratio,
      comparisons: [
        {
          what: 'throughput, protected / open',
          baseline: throughput(open),
          candidate: throughput(protectedRoute),
          ratio,
          target: '≥ 0.85',
          met: ratio >= 0.85
        },
        {
          what: 'server CPU per request, open / protected',
          baseline: `${fixed(open.cpuMicrosPerRequest, 1)} µs`,
          candidate: `${fixed(protectedRoute.cpuMicrosPerRequest, 1)} µs`,
          ratio: cpuRatio,
          target: '≥ 0.85 (stricter reading)',
          met: cpuRatio >= 0.85
        },
        {
          what: 'latency p50 / p99 (ms), protected vs open',
          baseline: `${fixed(open.p50Ms, 2)} / ${fixed(open.p99Ms, 2)}`,
          candidate: `${fixed(protectedRoute.p50Ms, 2)} / ${fixed(protectedRoute.p99Ms, 2)}`,
          ratio: protectedRoute.p99Ms / open.p99Ms,
          target: '(reported)',
          met: true
        }
      ]
    }
  } finally {
    await target.stop()
  }
}
