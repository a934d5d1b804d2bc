/**
 * Soak: mixed traffic against a real tessera server process for a few minutes, on loopback only.
 * Reports the 5xx count (must be 0), the error rate and the server's RSS over time (must level
 * off) to bench/soak.md, and exits 1 if either fails. Not part of CI.
 *
 *   npm run soak                      3 minutes, 32 concurrent clients
 *   npm run soak -- --quick           30 seconds
 *   npm run soak -- --duration=600 --concurrency=64
 *
 * Each client owns one user and loops through a realistic session: log in (now and then with a
 * wrong password first), a burst of authenticated requests (GET /auth/me, GET /auth/tokens),
 * sometimes a second device that it lists and revokes (DELETE /auth/tokens/:id), a request with
 * a bad token, and a logout, after which its token must be refused. Every answer is checked
 * against what it must be: an unexpected status is an error even when it is a 4xx.
 *
 * Rate limits are off (all traffic comes from one address); logging is at `warn`, and every
 * line the server logs at warn or above is counted.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const HOST = '127.0.0.1' // loopback only, whatever the arguments say
const PASSWORD = 'soak test password'

interface Options {
  durationS: number
  concurrency: number
  quick: boolean
}

function parseOptions (argv: string[]): Options {
  const quick = argv.includes('--quick')
  const value = (name: string): number | undefined => {
    const arg = argv.find((a) => a.startsWith(`--${name}=`))
    if (arg === undefined) return undefined
    const n = Number(arg.slice(name.length + 3))
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number`)
    return n
  }
  return { quick, durationS: value('duration') ?? (quick ? 30 : 180), concurrency: value('concurrency') ?? 32 }
}

/** The repository root: the nearest directory above this file with a package.json. */
function repositoryRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the repository root')
    dir = parent
  }
  return dir
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const address = probe.address()
      probe.close(() => typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')))
    })
  })
}

// ---------------------------------------------------------------------------------------------
// The server

interface Server {
  child: ChildProcess
  url: string
  /** Lines logged at warn or above, and a few of them. */
  warnings: { count: number, examples: string[] }
}

async function startServer (root: string, databasePath: string): Promise<Server> {
  const port = await freePort()
  const child = spawn(process.execPath, [join(root, 'dist/src/cli/bin.js'), 'serve'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite:${databasePath}`,
      PORT: String(port),
      HOST,
      LOG_LEVEL: 'warn',
      TESSERA_LOGIN_RATE_LIMIT: 'off',
      TESSERA_TOKEN_RATE_LIMIT: 'off',
      NODE_NO_WARNINGS: '1'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const warnings = { count: 0, examples: [] as string[] }
  const note = (line: string): void => {
    warnings.count++
    if (warnings.examples.length < 5) warnings.examples.push(line.slice(0, 500))
  }
  createInterface({ input: child.stdout! }).on('line', note)
  createInterface({ input: child.stderr! }).on('line', note)
  const url = `http://${HOST}:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${warnings.examples.join('\n')}`)
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url, warnings }
    } catch {}
    if (Date.now() > deadline) throw new Error('the server did not answer /healthz within 30 s')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The process's resident set size in MiB, from /proc (Linux) or ps. */
function rssMiB (pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1])
    if (Number.isFinite(kib)) return kib / 1024
  } catch {}
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) / 1024
}

// ---------------------------------------------------------------------------------------------
// The traffic

type Kind = 'register' | 'login' | 'login, wrong password' | 'me' | 'tokens' | 'revoke a session' | 'revoked token' | 'bad token' | 'logout' | 'logged-out token' | 'healthz'

interface KindStats {
  count: number
  unexpected: number
  serverErrors: number
  latenciesMs: number[]
}

class Traffic {
  readonly stats = new Map<Kind, KindStats>()
  readonly examples: string[] = []
  networkErrors = 0
  total = 0
  errors = 0
  serverErrors = 0

  constructor (readonly url: string) {}

  /** One request; counts it, and throws nothing: an unexpected answer is recorded. */
  async request (kind: Kind, expected: number, method: string, path: string, options: { token?: string, body?: unknown } = {}): Promise<{ status: number, body: unknown }> {
    const started = performance.now()
    let status = 0
    let body: unknown = null
    try {
      const response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.token === undefined ? {} : { authorization: `Token ${options.token}` })
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body)
      })
      status = response.status
      const text = await response.text()
      body = text === '' ? null : JSON.parse(text)
    } catch (error) {
      this.networkErrors++
      body = String(error)
    }
    const stats = this.stats.get(kind) ?? { count: 0, unexpected: 0, serverErrors: 0, latenciesMs: [] }
    this.stats.set(kind, stats)
    stats.count++
    stats.latenciesMs.push(performance.now() - started)
    this.total++
    if (status !== expected) {
      stats.unexpected++
      this.errors++
      if (this.examples.length < 10) this.examples.push(`${kind}: ${method} ${path} → ${status} (expected ${expected}) ${JSON.stringify(body).slice(0, 200)}`)
    }
    if (status >= 500) {
      stats.serverErrors++
      this.serverErrors++
    }
    return { status, body }
  }

  /** One client's loop, as one user, until `until`. */
  async client (username: string, until: number): Promise<void> {
    let round = 0
    while (Date.now() < until) {
      round++
      if (round % 5 === 0) await this.request('login, wrong password', 401, 'POST', '/auth/login', { body: { username, password: 'not the password' } })
      const login = await this.request('login', 200, 'POST', '/auth/login', { body: { username, password: PASSWORD, device: 'soak' } })
      const token = (login.body as { token?: string } | null)?.token
      if (token === undefined) continue
      const uses = 10 + Math.floor(Math.random() * 20)
      for (let i = 0; i < uses; i++) {
        if (i % 8 === 7) await this.request('tokens', 200, 'GET', '/auth/tokens', { token })
        else await this.request('me', 200, 'GET', '/auth/me', { token })
      }
      if (Math.random() < 0.3) {
        const other = await this.request('login', 200, 'POST', '/auth/login', { body: { username, password: PASSWORD, device: 'second device' } })
        const second = other.body as { token?: string, tokenId?: string } | null
        if (second?.token !== undefined && second.tokenId !== undefined) {
          await this.request('tokens', 200, 'GET', '/auth/tokens', { token })
          await this.request('revoke a session', 204, 'DELETE', `/auth/tokens/${second.tokenId}`, { token })
          await this.request('revoked token', 401, 'GET', '/auth/me', { token: second.token })
        }
      }
      if (round % 3 === 0) await this.request('bad token', 401, 'GET', '/auth/me', { token: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` })
      if (round % 10 === 0) await this.request('healthz', 200, 'GET', '/healthz')
      await this.request('logout', 204, 'POST', '/auth/logout', { token })
      await this.request('logged-out token', 401, 'GET', '/auth/me', { token })
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The report

interface Sample {
  atS: number
  rssMiB: number
  requests: number
  errors: number
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

/**
 * RSS levels off when the last third of the run peaks no more than 10 % (or 8 MiB) above the
 * middle third: growth then is warm-up, not a leak. (RSS saws up and down by tens of MiB: each
 * argon2 computation takes 19 MiB while it runs.)
 */
function levelling (samples: Sample[]): { ok: boolean, text: string } {
  const third = Math.floor(samples.length / 3)
  const parts = [samples.slice(0, third), samples.slice(third, 2 * third), samples.slice(2 * third)]
  const peak = (s: Sample[]): number => Math.max(...s.map((x) => x.rssMiB))
  const median = (s: Sample[]): number => [...s].sort((a, b) => a.rssMiB - b.rssMiB)[Math.floor(s.length / 2)]!.rssMiB
  const [m, l] = [peak(parts[1]!), peak(parts[2]!)]
  const ok = l <= Math.max(m * 1.1, m + 8)
  const describe = (s: Sample[]): string => `${median(s).toFixed(0)} / ${peak(s).toFixed(0)}`
  return {
    ok,
    text: `median / peak RSS (MiB) by third of the run: ${parts.map(describe).join(', ')}; ` +
      `the last third peaks ${Math.abs((l / m - 1) * 100).toFixed(1)} % ${l >= m ? 'above' : 'below'} the middle one`
  }
}

function report (options: Options, traffic: Traffic, samples: Sample[], warnings: Server['warnings'], elapsedS: number): { markdown: string, ok: boolean } {
  const errorRate = traffic.total === 0 ? 0 : traffic.errors / traffic.total
  const level = levelling(samples)
  const ok = traffic.serverErrors === 0 && level.ok && traffic.errors === 0
  const rows = [...traffic.stats.entries()].map(([kind, s]) => {
    const sorted = [...s.latenciesMs].sort((a, b) => a - b)
    return `| ${kind} | ${s.count} | ${s.unexpected} | ${s.serverErrors} | ${percentile(sorted, 0.5).toFixed(1)} | ${percentile(sorted, 0.99).toFixed(1)} |`
  })
  // About twenty rows of the timeline, whatever the duration.
  const step = Math.max(1, Math.round(samples.length / 20))
  const timeline = samples.filter((_, i) => i % step === 0 || i === samples.length - 1).map((s, i, all) => {
    if (i === 0) return `| ${s.atS.toFixed(0)} | ${s.rssMiB.toFixed(1)} | (start) | 0 |`
    const previous = all[i - 1]!
    const rate = (s.requests - previous.requests) / Math.max(0.001, s.atS - previous.atS)
    return `| ${s.atS.toFixed(0)} | ${s.rssMiB.toFixed(1)} | ${rate.toFixed(0)} | ${s.errors - previous.errors} |`
  })
  const markdown = `# Soak test

\`npm run soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ${options.concurrency} concurrent clients for ${elapsedS.toFixed(0)} s
against \`node dist/src/server.js\` (SQLite file, WAL, synchronous=FULL; rate limits off, LOG_LEVEL=warn),
on loopback. Node ${process.version}, ${availableParallelism()} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end
(the machine is shared: throughput figures are indicative, the counts are what matters).

Each client owns a user and loops: log in (every fifth round a wrong password first), 10-30
authenticated requests (GET /auth/me, every eighth GET /auth/tokens), in 30 % of rounds a second
device that is listed and revoked (DELETE /auth/tokens/:id, then its token must get 401), a
mistyped token (401), GET /healthz now and then, and a logout (then the token must get 401).

## Verdict: ${ok ? 'pass' : 'FAIL'}

- **5xx responses: ${traffic.serverErrors}** (must be 0)
- **Unexpected answers: ${traffic.errors} of ${traffic.total} requests (error rate ${(errorRate * 100).toFixed(3)} %)**, of which ${traffic.networkErrors} network errors;
  expected 401s (wrong password, revoked, mistyped and logged-out tokens) are not errors
- **RSS ${level.ok ? 'levels off' : 'DOES NOT level off'}**: ${level.text}
- Throughput: ${(traffic.total / elapsedS).toFixed(0)} requests/s on average
- Server log lines at warn or above: ${warnings.count}${warnings.examples.length > 0 ? `\n\n\`\`\`\n${warnings.examples.join('\n')}\n\`\`\`` : ''}
${traffic.examples.length > 0 ? `\nUnexpected answers (first ${traffic.examples.length}):\n\n\`\`\`\n${traffic.examples.join('\n')}\n\`\`\`\n` : ''}
## Requests

| kind | count | unexpected | 5xx | p50 ms | p99 ms |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}

Logins are slow on purpose: each runs one argon2id verification (19 MiB, t=2) on the thread pool.

## Server RSS over time

| t (s) | RSS (MiB) | requests/s | unexpected |
|---:|---:|---:|---:|
${timeline.join('\n')}
`
  return { markdown, ok }
}

// ---------------------------------------------------------------------------------------------

async function main (): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const root = repositoryRoot()
  const dir = mkdtempSync(join(tmpdir(), 'tessera-soak-'))
  let server: Server | undefined
  try {
    server = await startServer(root, join(dir, 'soak.db'))
    const pid = server.child.pid!
    const traffic = new Traffic(server.url)
    process.stderr.write(`soak: ${options.concurrency} clients for ${options.durationS} s against ${server.url} (pid ${pid})\n`)

    // One user per client, registered a few at a time (each registration hashes a password).
    const usernames = Array.from({ length: options.concurrency }, (_, i) => `soak${i}`)
    for (let i = 0; i < usernames.length; i += 4) {
      await Promise.all(usernames.slice(i, i + 4).map(async (username) => {
        const { status } = await traffic.request('register', 201, 'POST', '/auth/register', { body: { username, password: PASSWORD } })
        if (status !== 201) throw new Error(`cannot register ${username}: ${status}`)
      }))
    }

    const started = Date.now()
    const until = started + options.durationS * 1000
    const samples: Sample[] = []
    const sample = (): void => {
      samples.push({ atS: (Date.now() - started) / 1000, rssMiB: rssMiB(pid), requests: traffic.total, errors: traffic.errors })
    }
    sample()
    const sampler = setInterval(() => {
      sample()
      const last = samples[samples.length - 1]!
      process.stderr.write(`  ${last.atS.toFixed(0)} s: ${last.requests} requests, ${last.errors} unexpected, RSS ${last.rssMiB.toFixed(1)} MiB\n`)
    }, options.quick ? 1000 : 5000)
    await Promise.all(usernames.map(async (username) => await traffic.client(username, until)))
    clearInterval(sampler)
    sample()
    const elapsedS = (Date.now() - started) / 1000

    const { markdown, ok } = report(options, traffic, samples, server.warnings, elapsedS)
    const out = join(root, 'bench', 'soak.md')
    writeFileSync(out, markdown)
    process.stderr.write(`soak: ${ok ? 'pass' : 'FAIL'}: ${traffic.total} requests, ${traffic.serverErrors} 5xx, ${traffic.errors} unexpected; report in ${out}\n`)
    process.exitCode = ok ? 0 : 1
  } finally {
    if (server !== undefined && server.child.exitCode === null) {
      server.child.kill('SIGTERM')
      await new Promise((resolve) => server!.child.once('exit', resolve))
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`soak: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
