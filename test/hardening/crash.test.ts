/**
 * Crash test: a real server process under a burst of concurrent logins, logouts and session
 * revocations is killed with SIGKILL at a random moment, then restarted on the same file. After
 * every crash:
 * - every token whose login response reached the client works (unless it was revoked later);
 * - every logout or revocation that got its 204 stays revoked;
 * - `PRAGMA integrity_check` is `ok` on the file the dead process left behind.
 * Operations in flight when the process died may or may not have happened: they are not judged,
 * and their outcome is read back after the restart so that the next cycle starts from facts.
 *
 * SQLite only, whatever TESSERA_TEST_DATABASE says: it is about what a SQLite file holds after the
 * process writing it dies (WAL, synchronous=FULL).
 *
 * It runs the built server, `node dist/src/cli/bin.js serve`, as production does: `npm ci` builds it
 * (`prepare`); after changing src/ locally, run `npm run build` first. The test refuses to run
 * against a dist/ older than src/ rather than test stale code.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import SQLite from 'better-sqlite3'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SERVER = join(ROOT, 'dist/src/cli/bin.js')
const CYCLES = Number(process.env.TESSERA_CRASH_CYCLES ?? 4)
const USERS = 4
const PASSWORD = 'crash test password'
/** Concurrent clients in a burst: each runs one operation after another. */
const WORKERS = 12
/** The process is killed this long after the burst starts (uniformly at random). */
const KILL_AFTER_MS: [number, number] = [150, 1500]

/** The newest modification time of the files under `dir`. */
function newest (dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

function buildProblem (): string | undefined {
  if (!existsSync(SERVER)) return `${SERVER} does not exist: run \`npm run build\` first`
  // tsc writes every output file on each build: the newest of them is when dist/ was built.
  if (newest(join(ROOT, 'dist')) < Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'migrations')))) {
    return 'dist/ is older than src/: run `npm run build` so that the crash test runs the current code'
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// The server process

interface Server {
  process: ChildProcess
  url: string
  /** The last lines it logged, for failure messages. */
  log: string[]
}

async function startServer (databasePath: string): Promise<Server> {
  const child = spawn(process.execPath, [SERVER, 'serve'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite:${databasePath}`,
      PORT: '0', // the address is read from the "Server listening" line
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      TESSERA_LOGIN_RATE_LIMIT: 'off',
      TESSERA_TOKEN_RATE_LIMIT: 'off',
      TESSERA_SWEEP_INTERVAL: 'none',
      NODE_NO_WARNINGS: '1'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const log: string[] = []
  const remember = (line: string): void => {
    log.push(line)
    if (log.length > 200) log.shift()
  }
  createInterface({ input: child.stderr! }).on('line', remember)
  const lines = createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within 30 s:\n${log.join('\n')}`)), 30_000)
    child.once('exit', (code, signal) => reject(new Error(`the server exited (${code ?? signal}) before listening:\n${log.join('\n')}`)))
    lines.on('line', (line) => {
      remember(line)
      const match = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(line)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
  })
  return { process: child, url, log }
}

async function kill (server: Server, signal: NodeJS.Signals): Promise<number | null> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return server.process.exitCode
  const exited = once(server.process, 'exit')
  server.process.kill(signal)
  const [code] = await exited as [number | null]
  return code
}

// ---------------------------------------------------------------------------------------------
// What the clients know

type State = 'live' | 'revoked' | 'unknown'

interface Token {
  token: string
  tokenId: string
  user: number
  state: State
  /** Claimed by one operation at a time, so that every outcome is unambiguous. */
  busy: boolean
}

interface Issued { token: string, tokenId: string, user: { id: number } }

class Clients {
  readonly tokens: Token[] = []
  readonly counts = { logins: 0, logouts: 0, revocations: 0, interrupted: 0 }
  readonly usernames: string[] = []
  readonly serverErrors: string[] = []

  constructor (readonly prefix: string) {}

  async call (url: string, method: string, path: string, options: { token?: string, body?: unknown } = {}): Promise<{ status: number, body: unknown }> {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.token === undefined ? {} : { authorization: `Token ${options.token}` })
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body)
    })
    // The answer counts as received only once all of it is.
    const text = await response.text()
    if (response.status >= 500) this.serverErrors.push(`${method} ${path} → ${response.status} ${text}`)
    return { status: response.status, body: text === '' ? null : JSON.parse(text) }
  }

  async register (url: string): Promise<void> {
    for (let user = 0; user < USERS; user++) {
      const username = `${this.prefix}${user}`
      const { status, body } = await this.call(url, 'POST', '/auth/register', { body: { username, password: PASSWORD } })
      if (status !== 201) throw new Error(`register ${username}: ${status} ${JSON.stringify(body)}`)
      this.usernames.push(username)
      const issued = body as Issued
      this.tokens.push({ token: issued.token, tokenId: issued.tokenId, user, state: 'live', busy: false })
    }
  }

  #claim (filter: (token: Token) => boolean): Token | undefined {
    const free = this.tokens.filter((token) => token.state === 'live' && !token.busy && filter(token))
    const token = free[Math.floor(Math.random() * free.length)]
    if (token !== undefined) token.busy = true
    return token
  }

  /**
   * One operation. The token it touches is `unknown` while the request is out: if the server dies
   * meanwhile, it stays so, and the check after the restart does not judge it.
   */
  async operate (url: string): Promise<void> {
    const roll = Math.random()
    if (roll >= 0.4 && roll < 0.7) {
      const victim = this.#claim(() => true)
      if (victim !== undefined) return await this.#logout(url, victim)
    } else if (roll >= 0.7) {
      const actor = this.#claim(() => true)
      const victim = actor === undefined ? undefined : this.#claim((token) => token.user === actor.user)
      if (actor !== undefined && victim !== undefined) return await this.#revoke(url, actor, victim)
      if (actor !== undefined) actor.busy = false
    }
    // A login; also whenever no token was free for the operation drawn.
    await this.#login(url)
  }

  async #login (url: string): Promise<void> {
    const user = Math.floor(Math.random() * USERS)
    const { status, body } = await this.call(url, 'POST', '/auth/login', { body: { username: this.usernames[user], password: PASSWORD, device: 'crash test' } })
    if (status !== 200) throw new Error(`login: ${status} ${JSON.stringify(body)}`)
    const issued = body as Issued
    this.tokens.push({ token: issued.token, tokenId: issued.tokenId, user, state: 'live', busy: false })
    this.counts.logins++
  }

  async #logout (url: string, victim: Token): Promise<void> {
    victim.state = 'unknown'
    const { status, body } = await this.call(url, 'POST', '/auth/logout', { token: victim.token })
    if (status !== 204) throw new Error(`logout: ${status} ${JSON.stringify(body)}`)
    victim.state = 'revoked'
    victim.busy = false
    this.counts.logouts++
  }

  /** Another session of the same user revokes the victim's (DELETE /auth/tokens/:id). */
  async #revoke (url: string, actor: Token, victim: Token): Promise<void> {
    victim.state = 'unknown'
    const { status, body } = await this.call(url, 'DELETE', `/auth/tokens/${victim.tokenId}`, { token: actor.token })
    if (status !== 204) throw new Error(`revoke: ${status} ${JSON.stringify(body)}`)
    victim.state = 'revoked'
    victim.busy = false
    actor.busy = false
    this.counts.revocations++
  }

  /** Runs WORKERS clients until the server dies under them. */
  async burst (url: string, stop: { dead: boolean }): Promise<void> {
    const worker = async (): Promise<void> => {
      while (true) {
        try {
          await this.operate(url)
        } catch (error) {
          if (stop.dead) {
            this.counts.interrupted++
            return // the request was cut off by the kill: its outcome is unknown
          }
          throw error
        }
      }
    }
    await Promise.all(Array.from({ length: WORKERS }, worker))
  }
}

// ---------------------------------------------------------------------------------------------

t.test(`${CYCLES} SIGKILLs under a burst of logins, logouts and revocations lose nothing that was answered`, async (t) => {
  const problem = buildProblem()
  if (problem !== undefined) return t.fail(problem)
  const dir = mkdtempSync(join(tmpdir(), 'tessera-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const databasePath = join(dir, 'tessera.db')
  const clients = new Clients(`crash${process.pid}_`)
  let server = await startServer(databasePath)
  t.teardown(async () => await kill(server, 'SIGKILL'))
  await clients.register(server.url)

  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    const stop = { dead: false }
    const killAfter = Math.round(KILL_AFTER_MS[0] + Math.random() * (KILL_AFTER_MS[1] - KILL_AFTER_MS[0]))
    const before = { ...clients.counts }
    const burst = clients.burst(server.url, stop)
    await new Promise((resolve) => setTimeout(resolve, killAfter))
    stop.dead = true
    const signalled = kill(server, 'SIGKILL')
    await burst
    await signalled
    t.equal(server.process.signalCode, 'SIGKILL', `cycle ${cycle}: killed with SIGKILL after ${killAfter} ms, ` +
      `mid-burst: ${clients.counts.logins - before.logins} logins, ${clients.counts.logouts - before.logouts} logouts, ` +
      `${clients.counts.revocations - before.revocations} revocations answered; ${clients.counts.interrupted - before.interrupted} requests cut off`)

    const sqlite = new SQLite(databasePath)
    t.equal(sqlite.pragma('integrity_check', { simple: true }), 'ok', `cycle ${cycle}: PRAGMA integrity_check is ok after the crash`)
    t.same(sqlite.pragma('foreign_key_check'), [], `cycle ${cycle}: no token without its user`)
    sqlite.close()

    server = await startServer(databasePath)
    const wrong: string[] = []
    // Every token at once: the checks only read.
    await Promise.all(clients.tokens.map(async (token) => {
      const { status } = await clients.call(server.url, 'GET', '/auth/me', { token: token.token })
      if (token.state === 'live' && status !== 200) wrong.push(`answered login ${token.tokenId}: ${status}`)
      if (token.state === 'revoked' && status !== 401) wrong.push(`answered revocation ${token.tokenId}: ${status}`)
      // What was in flight is settled by what the server holds now, for the cycles to come.
      if (token.state === 'unknown') token.state = status === 200 ? 'live' : 'revoked'
      token.busy = false
    }))
    const live = clients.tokens.filter((token) => token.state === 'live').length
    t.same(wrong, [], `cycle ${cycle}: after the restart all ${live} live tokens work and all ${clients.tokens.length - live} revoked ones stay revoked`)
    if (wrong.length > 0) t.comment(server.log.slice(-20).join('\n'))
  }

  t.same(clients.serverErrors, [], 'no 5xx while the server was up')
  t.ok(clients.counts.logins > 0 && clients.counts.logouts > 0 && clients.counts.revocations > 0, `operations answered in all: ${JSON.stringify(clients.counts)}`)
  t.equal(await kill(server, 'SIGTERM'), 0, 'the last server shuts down gracefully on SIGTERM')
})
