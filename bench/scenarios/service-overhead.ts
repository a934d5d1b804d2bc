/**
 * 8. Service overhead: the whole service around the hook. `GET /auth/me` with a valid token on
 * the service as `tessera serve` runs it — default settings: request logging at `info`, the
 * per-token rate limit, security headers, request ids, the documentation plugin — against a bare
 * Fastify hello route (`bench/hello.ts`, a process of its own started here), interleaved in one
 * run. `GET /healthz` is measured beside them (a load balancer probes it).
 *
 * What differs from the other scenarios' servers: every setting is the service's default
 * (`BENCH_ENV` is undone), except that stdout, the request log, goes to a file in the
 * scenario's directory instead of the runner's terminal. A file rather than `/dev/null`: it costs
 * what a real destination costs (a write into the page cache), and the scenario counts its lines.
 * With the default `TESSERA_MIN_REFRESH_INTERVAL` (1 minute), a token's first use in its minute
 * writes `lastUsedAt`; the warm-up uses every token, so that the measured runs that follow within
 * the minute are the service's steady state (in a full run, the second minute's writes show).
 * 2 000 tokens, so that the default per-token limit (1 000 per minute) is never reached.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { load, type LoadResult } from '../load.js'
import { seed } from '../seed.js'
import { assertClean, fixed, interleave, throughput, type ScenarioContext, type ScenarioResult } from '../scenario.js'
import { startHello, startTarget } from '../target.js'

export interface ServiceOverheadFigures {
  hello: LoadResult
  me: LoadResult
  healthz: LoadResult
  ratio: number
  cpuRatio: number
  healthzRatio: number
  /** Request log lines (lines carrying a `reqId`) per request the service answered. */
  logLinesPerRequest: number
}

/** Every setting back to its default: an empty value reads as unset (`loadConfig`). */
const DEFAULTS: Record<string, string> = {
  LOG_LEVEL: '',
  TESSERA_LOGIN_RATE_LIMIT: '',
  TESSERA_TOKEN_RATE_LIMIT: '',
  TESSERA_SWEEP_INTERVAL: '',
  TESSERA_MIN_REFRESH_INTERVAL: ''
}

const TOKENS = 2000

export async function serviceOverhead (context: ScenarioContext): Promise<ScenarioResult<ServiceOverheadFigures>> {
  const { quick, progress } = context
  const { databaseUrl, tokens } = await seed(context.directory, 'service-overhead', { tokens: TOKENS, knownTokens: TOKENS, users: TOKENS })
  const logFile = join(context.directory, 'service-overhead.log')
  const service = await startTarget(databaseUrl, DEFAULTS, { logFile })
  const hello = await startHello()
  let served = 0
  let logLines = 0
  try {
    const durationS = quick ? 1 : 5
    const run = (target: typeof service, path: string) => async () => {
      const result = await load(target, { path, tokens, connections: 10, durationS })
      if (target === service) served += result.requests
      return result
    }
    // Long enough for both processes' code to be optimised: a fresh Fastify process on a loaded
    // two-core machine takes seconds to reach its pace, and a short warm-up favours one side.
    const warmUp = (target: typeof service, path: string) => async () =>
      await load(target, { path, tokens, connections: 10, durationS: quick ? 3 : 5 })
    progress('service overhead: warming up (every token once: its first lastUsedAt write of the minute)')
    served += (await load(service, { path: '/auth/me', tokens, connections: 10, amount: 2 * tokens.length })).requests
    await warmUp(hello, '/')()
    served += (await warmUp(service, '/auth/me')()).requests
    served += (await warmUp(service, '/healthz')()).requests
    progress('service overhead: measuring, hello, /auth/me and /healthz in turn')
    const [bare, me, healthz] = await interleave(quick ? 3 : 5, [run(hello, '/'), run(service, '/auth/me'), run(service, '/healthz')])
    assertClean('service overhead, hello route', bare!)
    assertClean('service overhead, /auth/me', me!)
    assertClean('service overhead, /healthz', healthz!)
    await service.stop()
    logLines = readFileSync(logFile, 'utf8').split('\n').filter((line) => line.includes('"reqId"')).length
    const ratio = me!.requestsPerS / bare!.requestsPerS
    const cpuRatio = bare!.cpuMicrosPerRequest / me!.cpuMicrosPerRequest
    const healthzRatio = healthz!.requestsPerS / bare!.requestsPerS
    const logLinesPerRequest = logLines / served
    return {
      figures: { hello: bare!, me: me!, healthz: healthz!, ratio, cpuRatio, healthzRatio, logLinesPerRequest },
      ratio,
      comparisons: [
        {
          what: 'throughput, service /auth/me / bare hello',
          baseline: throughput(bare!),
          candidate: throughput(me!),
          ratio,
          target: '≥ 0.5',
          met: ratio >= 0.5
        },
        {
          what: 'server CPU per request, hello / /auth/me',
          baseline: `${fixed(bare!.cpuMicrosPerRequest, 1)} µs`,
          candidate: `${fixed(me!.cpuMicrosPerRequest, 1)} µs`,
          ratio: cpuRatio,
          target: '≥ 0.5 (stricter reading)',
          met: cpuRatio >= 0.5
        },
        {
          what: 'throughput, service /healthz / bare hello',
          baseline: throughput(bare!),
          candidate: throughput(healthz!),
          ratio: healthzRatio,
          target: '(reported)',
          met: true
        },
        {
          what: 'request log lines per request (LOG_LEVEL=info)',
          baseline: `${fixed(served)} requests`,
          candidate: `${fixed(logLines)} lines`,
          ratio: logLinesPerRequest,
          target: '(reported)',
          met: true
        }
      ]
    }
  } finally {
    await Promise.all([service.stop(), hello.stop()])
  }
}
