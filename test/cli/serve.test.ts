/**
 * `tessera serve` says where it is on start: one log line with the address, the database (its
 * password masked) and where the API docs are, all three as fields of the JSON line too.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t from 'tap'
import { TEST_DIALECT, freshDatabaseUrl } from '../helpers/app.js'
import { BIN } from '../helpers/cli.js'

interface LogLine { msg: string, [field: string]: unknown }

const SECRET = 's3cret-in-the-url'

t.test(`the start line names the address, the ${TEST_DIALECT} database without its password, and /docs`, async (t) => {
  const { url, sqlitePath } = freshDatabaseUrl(t)
  // PostgreSQL here trusts local connections: the password is never sent, but it is in the URL.
  const withPassword = (() => {
    if (sqlitePath !== undefined) return url
    const parsed = new URL(url)
    parsed.password = SECRET
    return parsed.toString()
  })()
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: withPassword, HOST: '127.0.0.1', PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const lines: LogLine[] = []
  const up = await new Promise<LogLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line within 20 s: ${stderr}`)), 20_000)
    createInterface({ input: child.stdout }).on('line', (text) => {
      const line = JSON.parse(text) as LogLine
      lines.push(line)
      if (line.msg.startsWith('tessera is up')) {
        clearTimeout(timer)
        resolve(line)
      }
    })
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited with ${String(code)}: ${stderr}`)) })
  })

  const listening = lines.find((line) => line.msg.startsWith('Server listening at '))
  const address = listening?.msg.slice('Server listening at '.length)
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(lines.filter((line) => line.msg.startsWith('tessera is up')).length, 1, 'one line')
  t.match(up, { address, docs: `${address}/docs`, database: String })
  const database = up.database as string
  if (sqlitePath !== undefined) {
    t.ok(database.startsWith('sqlite:') && database.endsWith('tessera.db'), `the file: ${database}`)
  } else {
    t.match(database, /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test\b/, 'the server and database, the password masked')
  }
  t.equal(up.msg, `tessera is up at ${address} on the database ${database}; API docs at ${address}/docs`)
  t.notOk(JSON.stringify(lines).includes(SECRET), 'the password is nowhere in the log')

  const docs = await fetch(`${address}/docs/json`)
  t.equal(docs.status, 200, 'the docs are where the line says')
  child.kill('SIGTERM')
  t.equal(await exited, 0)
})
