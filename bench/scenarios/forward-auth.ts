/**
 * 1c. Forward auth: `GET /auth/verify` with a valid token (what nginx `auth_request` and the
 * like call once per request of the service they protect) against `GET /bench/open`, in one
 * server process, with identical requests (the token is sent to both), interleaved. Same
 * clients, tokens and table as `authOverhead`.
 *
 * Not like for like, unlike `authOverhead`: `/auth/verify` answers 204 with no body but four
 * `X-Tessera-*` headers and `Cache-Control: no-store` (tessera's routes' `onSend` hook), and
 * validates its query string; `/bench/open` answers a small JSON body (`{"user":null}`). Hence
 * the server's CPU per request is the figure to read, and the ratio is reported, not judged;
 * the ≥ 0.85 target stays on `authOverhead`, whose ratio is printed beside this one when it ran.
 */
import type { LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { fixed, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget } from '../target.js'
import { openAndCandidate, type AuthOverheadFigures } from './auth-overhead.js'

export interface ForwardAuthFigures {
  open: LoadResult
  verify: LoadResult
  ratio: number
  cpuRatio: number
}

export async function forwardAuth (context: ScenarioContext, builtin?: AuthOverheadFigures): Promise<ScenarioResult<ForwardAuthFigures>> {
  const { databaseUrl, tokens } = await seed(context.directory, 'forward-auth', { tokens: 1000, knownTokens: 100, users: 100 })
  const target = await startTarget(databaseUrl)
  try {
    const { open, candidate: verify } = await openAndCandidate(target, tokens, context, 'forward auth', '/auth/verify')
    const ratio = verify.requestsPerS / open.requestsPerS
    const cpuRatio = open.cpuMicrosPerRequest / verify.cpuMicrosPerRequest
    const protectedRatio = builtin === undefined ? '' : ` (protected route: ${fixed(builtin.ratio, 2)})`
    const protectedCpu = builtin === undefined
      ? ''
      : ` (protected route: ${fixed(builtin.cpuRatio, 2)}, ${fixed(builtin.protected.cpuMicrosPerRequest, 1)} µs)`
    return {
      figures: { open, verify, ratio, cpuRatio },
      ratio,
      comparisons: [
        {
          what: `throughput, verify / open${protectedRatio}`,
          baseline: throughput(open),
          candidate: throughput(verify),
          ratio,
          target: '(reported)',
          met: true
        },
        {
          what: `server CPU per request, open / verify${protectedCpu}`,
          baseline: `${fixed(open.cpuMicrosPerRequest, 1)} µs`,
          candidate: `${fixed(verify.cpuMicrosPerRequest, 1)} µs`,
          ratio: cpuRatio,
          target: '(reported)',
          met: true
        },
        {
          what: 'latency p50 / p99 (ms), verify vs open',
          baseline: `${fixed(open.p50Ms, 2)} / ${fixed(open.p99Ms, 2)}`,
          candidate: `${fixed(verify.p50Ms, 2)} / ${fixed(verify.p99Ms, 2)}`,
          ratio: verify.p99Ms / open.p99Ms,
          target: '(reported)',
          met: true
        }
      ]
    }
  } finally {
    await target.stop()
  }
}
