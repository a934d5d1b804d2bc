/**
 * Prometheus metrics (`TESSERA_METRICS=true`): scraped at `GET /metrics` on the service's port
 * without a token, or with `TESSERA_METRICS_PORT` on a port of their own (through `tessera serve`,
 * as an operator runs it) and then not on the service's; the counters move with a login, a failed
 * authentication, a rate-limit refusal, the token cache and a database outage. Off by default.
 */
import { spawn } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { PASSWORD, TEST_DIALECT, auth, buildTestApp, freshDatabaseUrl, login, register } from './helpers/app.js'
import { BIN } from './helpers/cli.js'

/** The samples of a scrape, by series (`name{labels}`, as printed). */
function samples (text: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/i.exec(line)
    if (match !== null) found.set(match[1]!, Number(match[2]))
  }
  return found
}

/** The value of one series, 0 when the scrape does not have it. */
const value = (scrape: Map<string, number>, series: string): number => scrape.get(series) ?? 0

const LOGIN_SUCCESS = 'tessera_logins_total{outcome="success"}'
const LOGIN_FAILURE = 'tessera_logins_total{outcome="failure"}'
const LOGIN_LIMITED = 'tessera_logins_total{outcome="rate_limited"}'
const AUTH_SUCCESS = 'tessera_authentications_total{outcome="success",reason="none"}'
const AUTH_UNKNOWN = 'tessera_authentications_total{outcome="failure",reason="unknown"}'
const AUTH_REVOKED = 'tessera_authentications_total{outcome="failure",reason="revoked"}'
const AUTH_MISSING = 'tessera_authentications_total{outcome="failure",reason="missing"}'
const REFUSED_BY_ADDRESS = 'tessera_rate_limit_refusals_total{limit="login-address"}'
const ISSUED = 'tessera_tokens_issued_total'
const REVOKED_BY_LOGOUT = 'tessera_tokens_revoked_total{reason="logout"}'
const ME_DURATION = 'tessera_http_request_duration_seconds_count{method="GET",route="/auth/me",status_code="200"}'
const ARGON2_WAITS = 'tessera_argon2_queue_wait_seconds_count'

/** What the scenario below does, as the counters must show it. */
const EXPECTED_MOVES: Array<[string, number]> = [
  [LOGIN_SUCCESS, 1],
  [LOGIN_FAILURE, 1],
  [LOGIN_LIMITED, 1],
  [REFUSED_BY_ADDRESS, 1],
  [AUTH_SUCCESS, 2],
  [AUTH_MISSING, 1],
  [ISSUED, 2],
  [REVOKED_BY_LOGOUT, 1],
  [ME_DURATION, 1]
]

/**
 * Registers (a token issued), logs in (a success: issued), fails a login, is refused by the
 * per-address login limit (2 a window), presents no token, then a good one (twice: me, logout).
 */
async function scenario (call: (method: string, path: string, options?: { body?: unknown, headers?: Record<string, string> }) => Promise<{ status: number, body: string }>, t: Test): Promise<void> {
  const username = `metrics${process.pid}`
  t.equal((await call('POST', '/auth/register', { body: { username, password: PASSWORD } })).status, 201)
  const logged = await call('POST', '/auth/login', { body: { username, password: PASSWORD } })
  t.equal(logged.status, 200)
  t.equal((await call('POST', '/auth/login', { body: { username, password: 'not the password' } })).status, 401)
  t.equal((await call('POST', '/auth/login', { body: { username, password: PASSWORD } })).status, 429)
  t.equal((await call('GET', '/auth/me')).status, 401)
  const { token } = JSON.parse(logged.body) as { token: string }
  t.equal((await call('GET', '/auth/me', { headers: auth(token) })).status, 200)
  t.equal((await call('POST', '/auth/logout', { headers: auth(token) })).status, 204)
}

function checkMoves (t: Test, before: Map<string, number>, after: Map<string, number>): void {
  for (const [series, moved] of EXPECTED_MOVES) {
    t.equal(value(after, series) - value(before, series), moved, `${series} +${moved}`)
  }
  t.ok(value(after, ARGON2_WAITS) - value(before, ARGON2_WAITS) >= 3, 'argon2 waits observed: a hash, two verifications')
}

t.test('off by default: no /metrics, nothing reported', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
  t.equal(app.tessera.metrics, undefined)
})

t.test('TESSERA_METRICS=true: /metrics on the service, without a token, and the counters move', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_METRICS: 'true', TESSERA_LOGIN_RATE_LIMIT: '2/1m' })
  const scrape = async (): Promise<Map<string, number>> => {
    const response = await app.inject({ method: 'GET', url: '/metrics' })
    t.equal(response.statusCode, 200)
    t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    return samples(response.body)
  }
  const before = await scrape()
  for (const series of [LOGIN_SUCCESS, AUTH_UNKNOWN, REFUSED_BY_ADDRESS, 'tessera_database_errors_total{kind="unavailable"}']) {
    t.equal(before.get(series), 0, `${series} is there from the start, at 0`)
  }
  t.ok(before.has('process_resident_memory_bytes'), "Node's process metrics too")
  await scenario(async (method, url, options = {}) => {
    const response = await app.inject({ method: method as 'GET', url, payload: options.body as object, headers: options.headers })
    return { status: response.statusCode, body: response.body }
  }, t)
  const after = await scrape()
  checkMoves(t, before, after)
  t.equal(value(after, 'tessera_argon2_queue_depth'), 0, 'nothing waits for argon2 now')

  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, unknown> }>()
  t.notOk('/metrics' in document.paths, 'an operator endpoint, not in the API document')
})

t.test('the token cache counts its hits and misses (SQLite)', { skip: TEST_DIALECT !== 'sqlite' && 'PostgreSQL has no token cache' }, async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_METRICS: 'true' })
  const { token } = await register(app)
  const revoked = (await register(app)).token
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(revoked) })).statusCode, 204)
  const scrape = async (): Promise<Map<string, number>> => samples((await app.inject({ method: 'GET', url: '/metrics' })).body)
  const before = await scrape()
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(revoked) })).statusCode, 401)
  const after = await scrape()
  const moved = (series: string): number => value(after, series) - value(before, series)
  t.equal(moved('tessera_token_cache_hits_total') + moved('tessera_token_cache_misses_total'), 4, 'every lookup is a hit or a miss')
  t.ok(moved('tessera_token_cache_hits_total') >= 2, 'the same token again is a hit')
  t.ok(moved('tessera_token_cache_misses_total') >= 1, 'a revoked token is a miss')
  t.equal(moved(AUTH_REVOKED), 1, 'refused as revoked (its tombstone says so)')
})

t.test('a database outage counts as a database error and an authentication error', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_METRICS: 'true' })
  const { token } = await register(app)
  await login(app, (await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).json<{ user: { username: string } }>().user.username)
  await app.tessera.database.close()
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).statusCode, 503)
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 503)
  const after = samples((await app.inject({ method: 'GET', url: '/metrics' })).body)
  t.equal(value(after, 'tessera_database_errors_total{kind="unavailable"}'), 2, "the request's and the health check's")
  t.equal(value(after, 'tessera_authentications_total{outcome="error",reason="none"}'), 1)
})

t.test('TESSERA_METRICS_PORT needs TESSERA_METRICS=true, and a port other than the service\'s', async (t) => {
  t.throws(() => loadConfig({ TESSERA_METRICS_PORT: '9464' }), ConfigError)
  t.throws(() => loadConfig({ TESSERA_METRICS_PORT: '9464' }), /TESSERA_METRICS_PORT="9464" applies only with TESSERA_METRICS=true/)
  t.throws(() => loadConfig({ TESSERA_METRICS: 'true', TESSERA_METRICS_PORT: '3000', PORT: '3000' }), /is the service's own PORT/)
  t.throws(() => loadConfig({ TESSERA_METRICS: 'true', TESSERA_METRICS_PORT: '70000' }), /TESSERA_METRICS_PORT="70000" is not valid/)
  t.throws(() => loadConfig({ TESSERA_METRICS: 'yes' }), /TESSERA_METRICS="yes" is not valid: expected true or false/)
  const config = loadConfig({ TESSERA_METRICS: 'true', TESSERA_METRICS_PORT: '9464' })
  t.equal(config.metrics, true)
  t.equal(config.metricsPort, 9464)
  t.same([loadConfig({}).metrics, loadConfig({}).metricsPort], [false, null], 'off by default')
})

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('TESSERA_METRICS_PORT: `tessera serve` serves /metrics on that port only', async (t) => {
  const [port, metricsPort] = [await freePort(), await freePort()]
  const { url } = freshDatabaseUrl(t)
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: url,
      PORT: String(port),
      TESSERA_METRICS: 'true',
      TESSERA_METRICS_PORT: String(metricsPort),
      TESSERA_LOGIN_RATE_LIMIT: '2/1m'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const service = `http://127.0.0.1:${port}`
  const metrics = `http://127.0.0.1:${metricsPort}/metrics`
  const deadline = Date.now() + 30_000
  // Up when it answers /healthz and its log (written asynchronously) says where the metrics are.
  const logged = `"msg":"metrics served at ${metrics}"`
  for (;;) {
    const healthy = await fetch(`${service}/healthz`).then((response) => response.ok, () => false)
    if (healthy && output.includes(logged)) break
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`tessera serve did not start, or did not log ${logged}:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  const scrape = async (): Promise<Map<string, number>> => {
    const response = await fetch(metrics)
    t.equal(response.status, 200)
    t.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
    return samples(await response.text())
  }
  t.equal((await fetch(`${service}/metrics`)).status, 404, 'not on the service\'s port')
  t.equal((await fetch(metrics.replace('/metrics', '/auth/me'))).status, 404, 'the metrics port serves nothing else')
  const before = await scrape()
  await scenario(async (method, path, options = {}) => {
    const response = await fetch(service + path, {
      method,
      headers: { ...options.headers, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: options.body === undefined ? undefined : JSON.stringify(options.body)
    })
    return { status: response.status, body: await response.text() }
  }, t)
  checkMoves(t, before, await scrape())

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'stops cleanly, the metrics server with it')
  t.equal(await fetch(metrics).then(() => 'answered', () => 'closed'), 'closed')
})

t.test('a metrics port already taken stops the service from starting', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => taken.close(resolve)))
  const { port } = taken.address() as AddressInfo
  const { app } = await buildTestApp(t, {}, { TESSERA_METRICS: 'true', TESSERA_METRICS_PORT: String(port) })
  await t.rejects(app.listen({ port: 0, host: '127.0.0.1' }), new RegExp(`cannot serve the metrics on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`))
})
