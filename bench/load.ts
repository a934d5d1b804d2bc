/**
 * One load run with autocannon against a target, charged with the server CPU it cost.
 *
 * The load generator runs in this process, on the same two cores as the server: requests/s is
 * what both together manage, while server CPU per request (read inside the server before and
 * after) is the server's own cost, and much steadier.
 */
import autocannon from 'autocannon'
import type { Target } from './target.js'

export interface LoadOptions {
  path: string
  method?: 'GET' | 'POST'
  /** Tokens sent as `Authorization: Token …`, one per request, in turn across all connections. */
  tokens?: readonly string[]
  headers?: Record<string, string>
  body?: string
  connections: number
  /** Run for this long… */
  durationS?: number
  /** …or make exactly this many requests. */
  amount?: number
  /** Requests per second over all connections (latency at a given load, not at saturation). */
  overallRate?: number
}

export interface LoadResult {
  requests: number
  durationS: number
  requestsPerS: number
  p50Ms: number
  p99Ms: number
  /** Server CPU time (user + system) per completed request. */
  cpuMicrosPerRequest: number
  /**
   * CPU time of the database server's processes serving the target (PostgreSQL backends) per
   * completed request; 0 on SQLite, whose work is inside the server's own figure.
   */
  databaseCpuMicrosPerRequest: number
  /** Answers that were not 2xx, and connection errors: any of these spoils the run. */
  failures: number
}

export async function load (target: Target, options: LoadOptions): Promise<LoadResult> {
  const { tokens } = options
  let next = 0
  const before = await target.usage()
  const databaseBefore = await target.databaseCpuMicros?.() ?? 0
  // autocannon notices that a run of `amount` requests is over at its next one-second tick, and
  // counts the wait in its duration: 2 000 logouts done in 1.2 s would read as 1 000 req/s. Such a
  // run lasts until its last answer instead.
  const started = Date.now()
  let lastAnswer = started
  const result = await new Promise<autocannon.Result>((resolve, reject) => autocannon({
    url: target.url + options.path,
    method: options.method ?? 'GET',
    connections: options.connections,
    // autocannon takes an explicit `undefined` as a value, not as "use the default": omit them.
    ...defined({ headers: options.headers, body: options.body, duration: options.durationS, amount: options.amount, overallRate: options.overallRate }),
    ...(tokens === undefined
      ? {}
      : {
          requests: [{
            setupRequest: (request: autocannon.Request) => ({
              ...request,
              headers: { ...request.headers, authorization: `Token ${tokens[next++ % tokens.length]!}` }
            })
          }]
        })
  }, (error, done) => { if (error == null) resolve(done); else reject(error) }).on('response', () => { lastAnswer = Date.now() }))
  const after = await target.usage()
  const databaseAfter = await target.databaseCpuMicros?.() ?? 0
  const requests = result.requests.total
  const durationS = options.amount === undefined ? result.duration : (lastAnswer - started) / 1000
  return {
    requests,
    durationS,
    requestsPerS: requests / durationS,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuMicrosPerRequest: requests === 0 ? NaN : (after.cpuMicros - before.cpuMicros) / requests,
    databaseCpuMicrosPerRequest: requests === 0 ? NaN : (databaseAfter - databaseBefore) / requests,
    failures: result.non2xx + result.errors
  }
}

function defined<T extends object> (values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>
}

/**
 * One load split evenly over several targets at once (instances behind a load balancer): each gets
 * its share of the connections, all of the tokens. Requests/s is their sum; CPU per request is
 * every target's CPU over every request; latencies are the worst target's.
 */
export async function loadAcross (targets: readonly Target[], options: LoadOptions): Promise<LoadResult> {
  const connections = Math.max(1, Math.round(options.connections / targets.length))
  const runs = await Promise.all(targets.map(async (target) => await load(target, { ...options, connections })))
  const requests = sum(runs.map((run) => run.requests))
  const durationS = Math.max(...runs.map((run) => run.durationS))
  return {
    requests,
    durationS,
    requestsPerS: requests / durationS,
    p50Ms: Math.max(...runs.map((run) => run.p50Ms)),
    p99Ms: Math.max(...runs.map((run) => run.p99Ms)),
    cpuMicrosPerRequest: perRequest(runs, (run) => run.cpuMicrosPerRequest),
    databaseCpuMicrosPerRequest: perRequest(runs, (run) => run.databaseCpuMicrosPerRequest),
    failures: sum(runs.map((run) => run.failures))
  }
}

/** A per-request figure over several runs, weighted by their requests. */
function perRequest (runs: readonly LoadResult[], figure: (run: LoadResult) => number): number {
  return sum(runs.map((run) => figure(run) * run.requests)) / sum(runs.map((run) => run.requests))
}

/** Several runs of one side of a comparison, summed: requests over time, CPU over requests. */
export function combine (runs: readonly LoadResult[]): LoadResult {
  const requests = sum(runs.map((run) => run.requests))
  const durationS = sum(runs.map((run) => run.durationS))
  return {
    requests,
    durationS,
    requestsPerS: requests / durationS,
    p50Ms: median(runs.map((run) => run.p50Ms)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    cpuMicrosPerRequest: perRequest(runs, (run) => run.cpuMicrosPerRequest),
    databaseCpuMicrosPerRequest: perRequest(runs, (run) => run.databaseCpuMicrosPerRequest),
    failures: sum(runs.map((run) => run.failures))
  }
}

export const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0)

export function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
