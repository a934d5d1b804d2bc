/**
 * 3. Login: `POST /auth/login` per second at the configured argon2 parameters, against the raw
 * argon2 verify rate measured in the same run with the same concurrency, so that everything
 * around the hash (HTTP, validation, the user lookup, issuing and storing the token) shows as
 * overhead. Each login verifies the password once and writes one token.
 *
 * The raw rate is measured in this process while the server idles: the same library, the same
 * hash, the same libuv thread pool size, the same two cores.
 */
import { verify } from '@node-rs/argon2'
import { Passwords } from '../../src/users/builtin/passwords.js'
import { load, type LoadResult } from '../load.js'
import { BENCH_PASSWORD, seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startTarget, type Target } from '../target.js'

/**
 * Logins in flight at once: many more than libuv's 4 threads, so that the pool is always busy and
 * the logins' token writes arrive together (they share commits: see `db/group-commit.ts`).
 */
export const LOGIN_CONCURRENCY = 32

export async function login ({ quick, directory, progress }: ScenarioContext): Promise<ScenarioResult> {
  const users = 200
  const { databaseUrl, usernames } = await seed(directory, 'login', { tokens: 1000, knownTokens: 0, users })
  const target = await startTarget(databaseUrl)
  const hash = await new Passwords().hash(BENCH_PASSWORD)
  const durationS = quick ? 1.5 : 5
  try {
    const logins = async (): Promise<LoadResult> => await loginFlood(target, usernames[0]!, durationS)
    const raw = async (): Promise<LoadResult> => await verifyLoop(hash, durationS)
    progress('login: raw argon2 verify and HTTP login in turn')
    const [verifies, httpLogins] = await interleave(quick ? 2 : 3, [raw, logins])
    assertClean('login', httpLogins!)
    const ratio = httpLogins!.requestsPerS / verifies!.requestsPerS
    return {
      figures: { rawVerify: verifies, login: httpLogins, ratio, concurrency: LOGIN_CONCURRENCY },
      ratio,
      comparisons: [{
        what: `logins/s vs raw argon2 verify/s (${LOGIN_CONCURRENCY} at once)`,
        baseline: `${fixed(verifies!.requestsPerS, 1)} verify/s`,
        candidate: `${throughput(httpLogins!)}, p99 ${fixed(httpLogins!.p99Ms)} ms`,
        ratio,
        target: '≥ 0.90',
        met: ratio >= 0.9
      }]
    }
  } finally {
    await target.stop()
  }
}

/** `LOGIN_CONCURRENCY` clients logging in as `username` with the right password, for `durationS`. */
export async function loginFlood (target: Target, username: string, durationS: number): Promise<LoadResult> {
  return await load(target, {
    path: '/auth/login',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: BENCH_PASSWORD, device: 'bench' }),
    connections: LOGIN_CONCURRENCY,
    durationS
  })
}

/** Verifies `BENCH_PASSWORD` against `hash` with `LOGIN_CONCURRENCY` verifications in flight, for `durationS`. */
async function verifyLoop (hash: string, durationS: number): Promise<LoadResult> {
  const started = performance.now()
  const deadline = started + durationS * 1000
  let done = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if (!(await verify(hash, BENCH_PASSWORD))) throw new Error('the bench hash does not verify')
      done++
    }
  }
  await Promise.all(Array.from({ length: LOGIN_CONCURRENCY }, worker))
  const elapsedS = (performance.now() - started) / 1000
  return { requests: done, durationS: elapsedS, requestsPerS: done / elapsedS, p50Ms: NaN, p99Ms: NaN, cpuMicrosPerRequest: NaN, databaseCpuMicrosPerRequest: NaN, failures: 0 }
}
