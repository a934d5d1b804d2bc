/**
 * 6. The write paths of authentication:
 * - logout (`POST /auth/logout`, each token once) and logout-all (`POST /auth/logoutall`, each
 *   user once, 5 tokens each), against the protected route's throughput in the same run;
 * - the protected route with `lastUsedAt` and sliding-expiry writes on (`TESSERA_AUTO_REFRESH=true`,
 *   `TESSERA_MIN_REFRESH_INTERVAL=1s`, 1 000 clients in turn: up to one write per client per
 *   second) against the same with the writes off (interval 1 day: no write during the run).
 * Every write is a committed transaction (`synchronous=FULL`: flushed to disk).
 */
import { load, type LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget } from '../target.js'

const TOKENS_PER_USER = 5

export async function revocation ({ quick, directory, progress }: ScenarioContext): Promise<ScenarioResult> {
  const logouts = quick ? 1000 : 10_000
  const users = quick ? 200 : 2000
  const durationS = quick ? 1 : 5
  const rounds = quick ? 2 : 3

  // Every token in the table is known. Token i belongs to user (i mod users): the first `users`
  // tokens are one of each user's, for logout-all; the last `logouts` go to logout, which leaves
  // each user TOKENS_PER_USER tokens for logout-all to revoke.
  const tokens = logouts + users * TOKENS_PER_USER
  const revocable = await seed(directory, 'revocation', { tokens, knownTokens: tokens, users })
  const target = await startTarget(revocable.databaseUrl)
  let logout: LoadResult, logoutAll: LoadResult, auth: LoadResult
  try {
    const [forLogoutAll, forLogout] = [revocable.tokens.slice(0, users), revocable.tokens.slice(users * TOKENS_PER_USER)]
    progress('revocation: the protected route, then logout and logout-all')
    auth = await load(target, { path: '/bench/protected', tokens: forLogout.slice(0, 1000), connections: 10, durationS })
    logout = await load(target, { path: '/auth/logout', method: 'POST', tokens: forLogout, connections: 10, amount: forLogout.length })
    logoutAll = await load(target, { path: '/auth/logoutall', method: 'POST', tokens: forLogoutAll, connections: 10, amount: forLogoutAll.length })
  } finally {
    await target.stop()
  }
  assertClean('protected route', auth)
  assertClean('logout', logout)
  assertClean('logout-all', logoutAll)

  // lastUsedAt / sliding expiry writes on and off, on two copies of one table.
  const [off, on] = await Promise.all([
    seed(directory, 'writes-off', { tokens: 10_000, knownTokens: 1000, users: 1000 }).then(async (seeded) => ({ seeded, target: await startTarget(seeded.databaseUrl) })),
    seed(directory, 'writes-on', { tokens: 10_000, knownTokens: 1000, users: 1000 }).then(async (seeded) => ({
      seeded, target: await startTarget(seeded.databaseUrl, { TESSERA_AUTO_REFRESH: 'true', TESSERA_MIN_REFRESH_INTERVAL: '1s' })
    }))
  ])
  let writesOff: LoadResult, writesOn: LoadResult
  try {
    progress('revocation: the protected route with lastUsedAt/auto-refresh writes off and on, in turn')
    const run = (side: typeof on) => async () =>
      await load(side.target, { path: '/bench/protected', tokens: side.seeded.tokens, connections: 10, durationS })
    ;[writesOff, writesOn] = await interleave(rounds, [run(off), run(on)]) as [LoadResult, LoadResult]
  } finally {
    await Promise.all([off.target.stop(), on.target.stop()])
  }
  assertClean('writes off', writesOff)
  assertClean('writes on', writesOn)

  const ratio = writesOn.requestsPerS / writesOff.requestsPerS
  return {
    figures: { protected: auth, logout, logoutAll, tokensPerUser: TOKENS_PER_USER, writesOff, writesOn, ratio },
    ratio,
    comparisons: [
      {
        what: 'protected route, lastUsedAt/auto-refresh writes on / off',
        baseline: throughput(writesOff),
        candidate: throughput(writesOn),
        ratio,
        target: '(reported)',
        met: true
      },
      {
        what: 'logout / protected route',
        baseline: throughput(auth),
        candidate: `${throughput(logout)}, p99 ${fixed(logout.p99Ms)} ms`,
        ratio: logout.requestsPerS / auth.requestsPerS,
        target: '(reported)',
        met: true
      },
      {
        what: `logout-all (${TOKENS_PER_USER} tokens each) / protected route`,
        baseline: throughput(auth),
        candidate: `${throughput(logoutAll)}, p99 ${fixed(logoutAll.p99Ms)} ms`,
        ratio: logoutAll.requestsPerS / auth.requestsPerS,
        target: '(reported)',
        met: true
      }
    ]
  }
}
