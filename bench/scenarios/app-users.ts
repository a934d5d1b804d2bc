/**
 * 1b. Auth overhead with an application's own users: the `authOverhead` measurement (same
 * routes, clients, tokens and table size) on a server where tessera is embedded with a user store
 * of the application's (`bench/app-users.ts`). Its hot path is the same token lookup plus the
 * application's `find` — a primary-key lookup in `app_users` on every request — where the
 * built-in store keeps the user cached with the token. Reported next to the built-in ratio; the
 * ≥ 0.85 target stays on the built-in one.
 */
import type { LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { fixed, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget } from '../target.js'
import { openAndCandidate, type AuthOverheadFigures } from './auth-overhead.js'

export interface AppUsersFigures {
  open: LoadResult
  protected: LoadResult
  ratio: number
  cpuRatio: number
}

export async function appUsers (context: ScenarioContext, builtin?: AuthOverheadFigures): Promise<ScenarioResult<AppUsersFigures>> {
  const { databaseUrl, tokens } = await seed(context.directory, 'app-users', { tokens: 1000, knownTokens: 100, users: 100, userTable: 'app' })
  const target = await startTarget(databaseUrl, { BENCH_USERS: 'app' })
  try {
    const { open, candidate: protectedRoute } = await openAndCandidate(target, tokens, context, 'app users')
    const ratio = protectedRoute.requestsPerS / open.requestsPerS
    const cpuRatio = open.cpuMicrosPerRequest / protectedRoute.cpuMicrosPerRequest
    const builtinRatio = builtin === undefined ? '' : ` (built-in: ${fixed(builtin.ratio, 2)})`
    const builtinCpuRatio = builtin === undefined ? '' : ` (built-in: ${fixed(builtin.cpuRatio, 2)})`
    return {
      figures: { open, protected: protectedRoute, ratio, cpuRatio },
      ratio,
      comparisons: [
        {
          what: `throughput, protected / open${builtinRatio}`,
          baseline: throughput(open),
          candidate: throughput(protectedRoute),
          ratio,
          target: '(reported)',
          met: true
        },
        {
          what: `server CPU per request, open / protected${builtinCpuRatio}`,
          baseline: `${fixed(open.cpuMicrosPerRequest, 1)} µs`,
          candidate: `${fixed(protectedRoute.cpuMicrosPerRequest, 1)} µs`,
          ratio: cpuRatio,
          target: '(reported)',
          met: true
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
