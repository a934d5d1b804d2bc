/**
 * 4. Mixed load with a login storm: the latency of authenticated requests at a steady rate,
 * alone (quiet) and while logins keep argon2's thread pool saturated (storm). The event loop
 * must not stall behind hashing: the target is a storm p99 no more than 3× the quiet one.
 *
 * Authenticated requests come at a fixed rate (latency is measured at a given load, not at
 * saturation, where it only measures the queue).
 */
import { combine, load, type LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget } from '../target.js'
import { loginFlood } from './login.js'

const RATE = 500

export async function loginStorm ({ quick, directory, progress }: ScenarioContext): Promise<ScenarioResult> {
  const { databaseUrl, tokens, usernames } = await seed(directory, 'login-storm', { tokens: 1000, knownTokens: 100, users: 100 })
  const target = await startTarget(databaseUrl)
  const durationS = quick ? 1.5 : 6
  const authenticated = async (): Promise<LoadResult> =>
    await load(target, { path: '/bench/protected', tokens, connections: 4, overallRate: RATE, durationS })
  try {
    const logins: LoadResult[] = []
    const storm = async (): Promise<LoadResult> => {
      const [result, stormLogins] = await Promise.all([authenticated(), loginFlood(target, usernames[0]!, durationS)])
      logins.push(stormLogins)
      return result
    }
    progress(`login storm: authenticated requests at ${RATE}/s, quiet and during a login storm in turn`)
    const [quiet, stormy] = await interleave(quick ? 2 : 3, [authenticated, storm])
    assertClean('authenticated, quiet', quiet!)
    assertClean('authenticated, storm', stormy!)
    const loginsPerS = combine(logins).requestsPerS
    const ratio = stormy!.p99Ms / quiet!.p99Ms
    return {
      figures: { quiet, storm: stormy, loginsPerSDuringStorm: loginsPerS, rate: RATE, ratio },
      ratio,
      comparisons: [{
        what: `authenticated p99 at ${RATE} req/s, storm / quiet`,
        baseline: `p50 ${fixed(quiet!.p50Ms, 2)} ms, p99 ${fixed(quiet!.p99Ms, 2)} ms`,
        candidate: `p50 ${fixed(stormy!.p50Ms, 2)} ms, p99 ${fixed(stormy!.p99Ms, 2)} ms (${fixed(loginsPerS, 1)} logins/s)`,
        ratio,
        target: '≤ 3',
        met: ratio <= 3
      }]
    }
  } finally {
    await target.stop()
  }
}
