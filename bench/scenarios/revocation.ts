/**
 * 6. The write paths of authentication:
 * - logout (`POST /auth/logout`, each token once) and logout-all (`POST /auth/logoutall`, each
 *   user once, 5 tokens each) from 32 concurrent clients, with group commit (the default: the
 *   writes of one event-loop turn share a commit) against the same with `TESSERA_GROUP_COMMIT=false`
 *   (one commit, one fsync, per request: the rate before group commit), on two copies of one table;
 *   each server first serves logouts that are not measured (`WARM_UP_LOGOUTS`): a fresh process
 *   spends its first thousands of requests compiling its code, which a server that has been up a
 *   while no longer does (its first 2 000 logouts cost about twice the CPU each of the next ones);
 * - the protected route with `lastUsedAt` and sliding-expiry writes on (`TESSERA_AUTO_REFRESH=true`,
 *   `TESSERA_MIN_REFRESH_INTERVAL=1s`, 1 000 clients in turn: up to one write per client per
 *   second) against the same with the writes off (interval 1 day: no write during the run).
 * Every commit is flushed to disk (`synchronous=FULL`).
 */
import { load, type LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget } from '../target.js'

const TOKENS_PER_USER = 5
/** Clients revoking at once. */
export const REVOKING_CLIENTS = 32
/** Logouts each server serves before the measured ones, quick and full. */
const WARM_UP_LOGOUTS = { quick: 2000, full: 3000 }

interface RevocationRates { logout: LoadResult, logoutAll: LoadResult }

/** Logout then logout-all, each token and each user once, on a fresh copy of the table. */
async function revocationRates (directory: string, name: string, env: Record<string, string>, quick: boolean): Promise<RevocationRates> {
  const logouts = quick ? 2000 : 10_000
  const warmUp = quick ? WARM_UP_LOGOUTS.quick : WARM_UP_LOGOUTS.full
  const users = quick ? 400 : 2000
  // Token i belongs to user (i mod users): the first `users` tokens are one of each user's, for
  // logout-all; the last `warmUp + logouts` go to logout, which leaves each user TOKENS_PER_USER tokens.
  const tokens = warmUp + logouts + users * TOKENS_PER_USER
  const revocable = await seed(directory, name, { tokens, knownTokens: tokens, users })
  const target = await startTarget(revocable.databaseUrl, env)
  try {
    const forLogoutAll = revocable.tokens.slice(0, users)
    const forWarmUp = revocable.tokens.slice(users * TOKENS_PER_USER, users * TOKENS_PER_USER + warmUp)
    const forLogout = revocable.tokens.slice(users * TOKENS_PER_USER + warmUp)
    const warm = await load(target, { path: '/auth/logout', method: 'POST', tokens: forWarmUp, connections: REVOKING_CLIENTS, amount: forWarmUp.length })
    assertClean(`${name}: warm-up logouts`, warm)
    const logout = await load(target, { path: '/auth/logout', method: 'POST', tokens: forLogout, connections: REVOKING_CLIENTS, amount: forLogout.length })
    const logoutAll = await load(target, { path: '/auth/logoutall', method: 'POST', tokens: forLogoutAll, connections: REVOKING_CLIENTS, amount: forLogoutAll.length })
    assertClean(`${name}: logout`, logout)
    assertClean(`${name}: logout-all`, logoutAll)
    return { logout, logoutAll }
  } finally {
    await target.stop()
  }
}

export async function revocation ({ quick, directory, progress }: ScenarioContext): Promise<ScenarioResult> {
  const durationS = quick ? 1 : 5
  const rounds = quick ? 2 : 3

  progress(`revocation: logout and logout-all, ${REVOKING_CLIENTS} clients, one commit per request, then group commit`)
  const separate = await revocationRates(directory, 'revocation-separate', { TESSERA_GROUP_COMMIT: 'false' }, quick)
  const grouped = await revocationRates(directory, 'revocation-grouped', {}, quick)

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
  const logoutGain = grouped.logout.requestsPerS / separate.logout.requestsPerS
  const logoutAllGain = grouped.logoutAll.requestsPerS / separate.logoutAll.requestsPerS
  const rate = (result: LoadResult): string => `${throughput(result)}, p99 ${fixed(result.p99Ms)} ms`
  return {
    figures: { separate, grouped, revokingClients: REVOKING_CLIENTS, tokensPerUser: TOKENS_PER_USER, writesOff, writesOn, ratio },
    ratio: logoutGain,
    comparisons: [
      {
        what: `logout, ${REVOKING_CLIENTS} clients: group commit / one commit per request`,
        baseline: rate(separate.logout),
        candidate: rate(grouped.logout),
        ratio: logoutGain,
        target: '≥ 5',
        met: logoutGain >= 5
      },
      {
        what: `logout-all (${TOKENS_PER_USER} tokens each), ${REVOKING_CLIENTS} clients: group commit / one commit per request`,
        baseline: rate(separate.logoutAll),
        candidate: rate(grouped.logoutAll),
        ratio: logoutAllGain,
        target: '(reported)',
        met: true
      },
      {
        what: 'protected route, lastUsedAt/auto-refresh writes on / off',
        baseline: throughput(writesOff),
        candidate: throughput(writesOn),
        ratio,
        target: '(reported)',
        met: true
      }
    ]
  }
}
