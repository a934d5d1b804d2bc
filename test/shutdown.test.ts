/**
 * Graceful shutdown of a real server process (`tessera serve`): SIGTERM while requests are in
 * flight answers every one of them, stops accepting new connections, closes the database and
 * exits 0.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import t from 'tap'
import { PASSWORD, freshDatabaseUrl, type TestContext } from './helpers/app.js'
import { BIN, cliFor } from './helpers/cli.js'

interface LogLine { msg: string, reqId?: string, req?: { url: string }, [key: string]: unknown }

interface Server {
  child: ChildProcessWithoutNullStreams
  port: number
  logs: LogLine[]
  /** Resolves with the first log line (past or future) that `match` accepts. */
  waitForLog: (match: (line: LogLine) => boolean, what: string) => Promise<LogLine>
  exit: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  stderr: () => string
}

async function startServer (t: TestContext, databaseUrl: string): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      // debug: the request log's `incoming request` lines say when a request reached the server.
      LOG_LEVEL: 'debug',
      TESSERA_LOGIN_RATE_LIMIT: 'off'
    }
  })
  const exit = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const logs: LogLine[] = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout }).on('line', (text) => {
    logs.push(JSON.parse(text) as LogLine)
    for (const wake of waiters) wake()
  })
  const waitForLog = async (match: (line: LogLine) => boolean, what: string): Promise<LogLine> =>
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${what}; stderr: ${stderr}`)) }, 20_000)
      const check = (): void => {
        const found = logs.find(match)
        if (found === undefined) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve(found)
      }
      waiters.add(check)
      check()
      void exit.then(() => { if (waiters.has(check)) { clearTimeout(timer); reject(new Error(`server exited before ${what}: ${stderr}`)) } })
    })
  const listening = await waitForLog((line) => /^Server listening at http:\/\/127\.0\.0\.1:\d+$/.test(line.msg), 'listening')
  const port = Number(/:(\d+)$/.exec(listening.msg)![1])
  return { child, port, logs, waitForLog, exit, stderr: () => stderr }
}

interface Reply { status: number, body: string }

/**
 * A POST on its own connection. With `holdBack`, only the start of the body is sent: the request
 * stays in flight until `finish()` sends the rest.
 */
function post (port: number, path: string, payload: unknown, holdBack = false): { response: Promise<Reply>, finish: () => void } {
  const body = JSON.stringify(payload)
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path,
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
  })
  const response = new Promise<Reply>((resolve, reject) => {
    req.on('error', reject)
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      res.on('error', reject)
    })
  })
  const split = holdBack ? 10 : body.length
  req.write(body.slice(0, split))
  let finished = false
  const finish = (): void => {
    if (finished) return
    finished = true
    req.end(body.slice(split))
  }
  if (!holdBack) finish()
  return { response, finish }
}

/** Whether a new TCP connection to the port is accepted and answered. */
async function newConnectionAnswered (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => { req.destroy(); resolve(false) })
    req.end()
  })
}

t.test('SIGTERM during requests: every request is answered, no new connection is, the database is closed, exit 0', async (t) => {
  const { url, sqlitePath } = freshDatabaseUrl(t)
  const server = await startServer(t, url)
  const registered = await post(server.port, '/auth/register', { username: 'alice', password: PASSWORD }).response
  t.equal(registered.status, 201)

  // In flight at the signal: logins whose bodies are still arriving, and a burst of logins
  // (each an argon2 verification) queued on the thread pool.
  const slow = Array.from({ length: 3 }, (_, i) => post(server.port, '/auth/login', { username: 'alice', password: PASSWORD, device: `slow ${i}` }, true))
  const burst = Array.from({ length: 12 }, (_, i) => post(server.port, '/auth/login', { username: 'alice', password: PASSWORD, device: `burst ${i}` }))
  const all = [...slow, ...burst]
  const answeredAt: number[] = []
  for (const call of all) void call.response.then(() => answeredAt.push(Date.now()), () => {})
  const loginsSeen = (): number => server.logs.filter((line) => line.msg === 'incoming request' && line.req?.url === '/auth/login').length
  await server.waitForLog(() => loginsSeen() === all.length, 'every login to reach the server')

  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  await server.waitForLog((line) => /^shutting down/.test(line.msg), 'the shutdown to begin')
  t.equal(await newConnectionAnswered(server.port), false, 'a new connection is not served once shutting down')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(server.child.exitCode, null, 'still running while requests are unfinished')
  for (const call of slow) call.finish()

  const replies = await Promise.all(all.map(async (call) => await call.response))
  t.same(replies.map((reply) => reply.status), all.map(() => 200), 'every in-flight request was answered in full')
  for (const reply of replies) t.match(JSON.parse(reply.body), { token: /^tsr_/, user: { username: 'alice' } })
  t.ok(answeredAt.filter((time) => time > signalledAt).length >= slow.length, 'requests were answered after the signal')

  const { code, signal } = await server.exit
  t.equal(signal, null)
  t.equal(code, 0, 'exit code 0')
  t.ok(server.logs.some((line) => line.msg === 'closed: every request answered, database closed'))
  t.notOk(existsSync(`${sqlitePath}-wal`), 'SQLite checkpointed and removed its WAL: the database was closed cleanly')
  t.equal(server.stderr(), '')

  const sessions = JSON.parse((await cliFor(url)(['token', 'list', 'alice', '--json'])).stdout) as unknown[]
  t.equal(sessions.length, 1 + all.length, 'every token issued during the shutdown was committed')
})

t.test('SIGINT on an idle server exits 0 at once', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const server = await startServer(t, url)
  const started = Date.now()
  server.child.kill('SIGINT')
  const { code } = await server.exit
  t.equal(code, 0)
  t.ok(Date.now() - started < 5000, 'promptly')
  t.match(server.logs.find((line) => /^shutting down/.test(line.msg)), { signal: 'SIGINT' })
})

t.test('a server that cannot listen says why on stderr and exits 1', async (t) => {
  const { url } = freshDatabaseUrl(t)
  // The port is taken by a plain socket of this process: no need to start a second server for it.
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const port = (taken.address() as AddressInfo).port
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'silent' }
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  t.equal(code, 1)
  t.match(stderr, /^tessera: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*\n$/)
})
