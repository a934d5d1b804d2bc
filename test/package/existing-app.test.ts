/**
 * tessera-auth as a consumer gets it: the packed tarball installed into a copy of
 * examples/existing-app — an app with its own users table, migrations and sign-up — which is then
 * type-checked, started as a real server (`node server.js`) and driven over HTTP: the app's
 * sign-up issues a tessera token, the app's protected route accepts it, tessera's login checks the
 * app's own password hash, logout kills the token, and tessera's own register route is absent.
 * Afterwards the database holds the app's tables untouched beside tessera's `tessera_*` ones, and
 * the app's Kysely bookkeeping lists only the app's migrations; a restart on the same database
 * migrates nothing twice and keeps the tokens.
 *
 * The example runs on the database of the suite's run: a SQLite file, or a fresh PostgreSQL schema
 * with TESSERA_TEST_DATABASE=postgres (`npm test` runs both); the SQLite run also type-checks it and
 * runs its `tessera` command, which involve no database. The tarball is packed and installed into
 * the example once per build (test/helpers/package.ts, `sharedDirectory`), for both runs.
 */
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import t, { type Test } from 'tap'
import { TEST_DIALECT } from '../helpers/app.js'
import { ROOT, digest, filesUnder, installTarball, packedTarball, run, sharedDirectory, staleBuild } from '../helpers/package.js'
import { createTestSchema } from '../helpers/postgres.js'

const PASSWORD = 'correct horse battery staple'

// ---------------------------------------------------------------------------------------------
// Pack and install, once per build.

const stale = staleBuild()
if (stale.length > 0) throw new Error(`dist is older than ${stale.join(', ')}: run \`npm run build\` first (npm test does)`)

/** The databases of this run. */
const work = mkdtempSync(join(tmpdir(), 'tessera-consumer-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

const EXAMPLE = 'examples/existing-app'
/** What a developer's run of the example may leave beside its sources: not copied. */
const notCopied = (name: string): boolean => ['node_modules', 'data', 'package-lock.json'].includes(name)

const started = performance.now()
const { tarball } = await packedTarball()
const exampleSources = filesUnder(EXAMPLE).filter((file) => !file.slice(EXAMPLE.length + 1).split('/').some(notCopied))
// The project's better-sqlite3 (whose addon installTarball copies) and Node's ABI are part of the install.
const installed = await sharedDirectory(
  `existing-app-${digest([...exampleSources, 'node_modules/better-sqlite3/package.json'], tarball, process.version, process.arch)}`,
  async (dir) => {
    const appDir = join(dir, 'existing-app')
    cpSync(join(ROOT, EXAMPLE), appDir, { recursive: true, filter: (source) => !notCopied(basename(source)) })
    await installTarball(appDir, tarball)
  })
const appDir = join(installed.dir, 'existing-app')
t.comment(installed.made
  ? `npm pack and npm install: ${((performance.now() - started) / 1000).toFixed(1)} s`
  : `packed and installed earlier for this build: ${installed.dir}`)

// ---------------------------------------------------------------------------------------------
// The example as a running server.

interface Server {
  baseUrl: string
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>
}

async function startExample (t: Test, databaseUrl: string): Promise<Server> {
  const child = spawn(process.execPath, ['server.js'], {
    cwd: appDir,
    env: { PATH: process.env.PATH ?? '', PORT: '0', DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example did not listen within 30 s:\n${output}`)), 30_000)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
      const listening = /"msg":"Server listening at (http:\/\/[^"]+)"/.exec(output)
      if (listening !== null) {
        clearTimeout(timer)
        resolve(listening[1]!)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`the example exited with ${String(code)} before listening:\n${output}`))
    })
  })
  return {
    baseUrl,
    stop: async () => {
      child.kill('SIGTERM')
      return await exited
    }
  }
}

interface Reply {
  status: number
  headers: Headers
  body: unknown
}

interface CallOptions {
  token?: string
  basic?: [string, string]
  body?: unknown
}

async function call (server: Server, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = {}
  if (options.token !== undefined) headers.authorization = `Token ${options.token}`
  if (options.basic !== undefined) headers.authorization = `Basic ${Buffer.from(options.basic.join(':')).toString('base64')}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(server.baseUrl + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(10_000)
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text === '' ? null : JSON.parse(text) as unknown }
}

// ---------------------------------------------------------------------------------------------
// What the database holds afterwards, on either dialect.

interface DatabaseView {
  tables: string[]
  userColumns: string[]
  appMigrations: string[]
  users: Array<{ id: number, email: string, name: string, password_hash: string }>
  /** Every row of every tessera_* table, as JSON text. */
  tesseraRows: string
}

function inspectSqlite (path: string): DatabaseView {
  const db = new SQLite(path, { readonly: true })
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>)
      .map((row) => row.name)
    return {
      tables,
      userColumns: (db.prepare("SELECT name FROM pragma_table_info('users') ORDER BY cid").all() as Array<{ name: string }>).map((row) => row.name),
      appMigrations: (db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as Array<{ name: string }>).map((row) => row.name),
      users: db.prepare('SELECT id, email, name, password_hash FROM users ORDER BY id').all() as DatabaseView['users'],
      tesseraRows: JSON.stringify(tables.filter((table) => table.startsWith('tessera_'))
        .map((table) => db.prepare(`SELECT * FROM "${table}"`).all()))
    }
  } finally {
    db.close()
  }
}

async function inspectPostgres (url: string): Promise<DatabaseView> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const column = async (query: string): Promise<string[]> =>
      (await client.query<{ value: string }>(query)).rows.map((row) => row.value)
    const tables = await column('SELECT table_name AS value FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name')
    const rows: string[] = []
    for (const table of tables.filter((name) => name.startsWith('tessera_'))) {
      rows.push(...await column(`SELECT row_to_json(t)::text AS value FROM "${table}" t`))
    }
    return {
      tables,
      userColumns: await column("SELECT column_name AS value FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users' ORDER BY ordinal_position"),
      appMigrations: await column('SELECT name AS value FROM kysely_migration ORDER BY name'),
      users: (await client.query<DatabaseView['users'][number]>('SELECT id, email, name, password_hash FROM users ORDER BY id')).rows,
      tesseraRows: rows.join('\n')
    }
  } finally {
    await client.end()
  }
}

// ---------------------------------------------------------------------------------------------
// The tests.

async function exercise (t: Test, databaseUrl: string, inspect: () => Promise<DatabaseView>): Promise<void> {
  const server = await startExample(t, databaseUrl)

  const anonymous = await call(server, 'GET', '/orders')
  t.equal(anonymous.status, 401, 'the protected route refuses a request without a token')
  t.equal(anonymous.headers.get('www-authenticate'), 'Token')

  // The app's sign-up, which issues the first token.
  const signup = await call(server, 'POST', '/signup', { body: { email: 'Ada@Example.com', name: 'Ada', password: PASSWORD, device: 'iPhone 15' } })
  t.equal(signup.status, 201, JSON.stringify(signup.body))
  const { user, token: signupToken } = signup.body as { user: { id: number, email: string, name: string }, token: string }
  t.match(user, { id: Number, email: 'ada@example.com', name: 'Ada' })
  t.match(signupToken, /^tsr_[0-9A-Za-z]{40,}$/, 'a tessera token')
  t.equal((await call(server, 'POST', '/signup', { body: { email: 'ada@example.com', name: 'Ada 2', password: PASSWORD } })).status, 409,
    "the app's own rule: one account per email")

  const orders = await call(server, 'GET', '/orders', { token: signupToken })
  t.equal(orders.status, 200, JSON.stringify(orders.body))
  t.same(orders.body, { userId: user.id, orders: [] }, "request.user is the app's user")

  // tessera's login, through the app's own passwords.
  t.equal((await call(server, 'POST', '/auth/login', { body: { username: 'ada@example.com', password: 'wrong password!' } })).status, 401)
  t.equal((await call(server, 'POST', '/auth/login', { body: { username: 'nobody@example.com', password: PASSWORD } })).status, 401)
  const login = await call(server, 'POST', '/auth/login', { body: { username: 'ada@example.com', password: PASSWORD, device: 'Pixel 8' } })
  t.equal(login.status, 200, JSON.stringify(login.body))
  const issued = login.body as { user: unknown, token: string, tokenId: string, expiry: string | null }
  t.same(issued.user, { id: user.id, email: 'ada@example.com', name: 'Ada' }, 'the user as serialize shows it: no createdAt, no hash')
  t.match(issued, { token: /^tsr_/, tokenId: String })
  t.ok('expiry' in issued, 'the expiry is part of the answer')
  t.not(issued.token, signupToken)
  const basic = await call(server, 'POST', '/auth/login', { basic: ['ada@example.com', PASSWORD] })
  t.equal(basic.status, 200, 'HTTP Basic works too')
  const basicToken = (basic.body as { token: string }).token

  const me = await call(server, 'GET', '/auth/me', { token: issued.token })
  t.equal(me.status, 200)
  const shown = me.body as { user: unknown, session: unknown }
  t.same(shown.user, { id: user.id, email: 'ada@example.com', name: 'Ada' }, "/auth/me: the user as the app's serialize shows it")
  t.match(shown.session, { id: issued.tokenId, device: 'Pixel 8', scopes: ['*'] }, "and the token's own session beside it")

  const sessions = await call(server, 'GET', '/auth/tokens', { token: issued.token })
  t.equal(sessions.status, 200)
  const devices = (sessions.body as Array<{ device: string }>).map((session) => session.device)
  t.equal(devices.length, 3, 'sign-up, JSON login, Basic login')
  t.ok(devices.includes('iPhone 15') && devices.includes('Pixel 8'), `the devices are named: ${devices.join(', ')}`)

  // Registration and password changes are the app's business: tessera does not add those routes.
  t.equal((await call(server, 'POST', '/auth/register', { body: { username: 'eve', password: PASSWORD } })).status, 404)
  t.equal((await call(server, 'POST', '/auth/password', { token: issued.token, body: { currentPassword: PASSWORD, newPassword: 'another password' } })).status, 404)

  t.equal((await call(server, 'POST', '/auth/logout', { token: issued.token })).status, 204)
  t.equal((await call(server, 'GET', '/auth/me', { token: issued.token })).status, 401, 'a logged-out token is dead')
  const afterLogout = await call(server, 'GET', '/orders', { token: issued.token })
  t.equal(afterLogout.status, 401, "…on the app's routes too")
  t.equal(afterLogout.headers.get('www-authenticate'), 'Token error="invalid_token", error_description="Token has been revoked: it was logged out."')
  t.equal((await call(server, 'GET', '/orders', { token: signupToken })).status, 200, 'the other devices stay logged in')

  t.equal(await server.stop(), 0, 'the example closes cleanly on SIGTERM')

  const view = await inspect()
  const appTables = ['kysely_migration', 'kysely_migration_lock', 'orders', 'users']
  t.same(view.tables.filter((table) => !table.startsWith('tessera_')), appTables, "besides the app's tables, only tessera_* tables")
  const tesseraTables = view.tables.filter((table) => table.startsWith('tessera_'))
  t.ok(tesseraTables.includes('tessera_migrations') && tesseraTables.includes('tessera_migrations_lock'),
    `tessera keeps its own migration bookkeeping: ${tesseraTables.join(', ')}`)
  t.ok(tesseraTables.length > 2, 'and its tables')
  t.same(view.appMigrations, ['0001_users', '0002_orders'], "kysely_migration lists only the app's migrations")
  t.same(view.userColumns, ['id', 'email', 'name', 'password_hash', 'created_at'], "the app's users table is as its migration made it")
  t.equal(view.users.length, 1, 'one user: the one the app signed up')
  t.match(view.users[0], { id: user.id, email: 'ada@example.com', name: 'Ada', password_hash: /^scrypt\$/ })
  for (const token of [signupToken, issued.token, basicToken]) {
    t.notOk(view.tesseraRows.includes(token.slice(4)), 'no token is stored as it is')
  }
  t.ok(view.tesseraRows.includes(`"${user.id}"`), "tessera's rows name the user by idOf: the app's id as a string")

  // A restart on the same database: both sets of migrations are already applied, tokens live on.
  const again = await startExample(t, databaseUrl)
  t.equal((await call(again, 'GET', '/orders', { token: signupToken })).status, 200, 'the restarted app accepts the token')
  t.equal((await call(again, 'GET', '/orders', { token: basicToken })).status, 200)
  t.equal(await again.stop(), 0)
  t.same((await inspect()).appMigrations, ['0001_users', '0002_orders'], 'the restart migrated nothing')
}

// Each run of the suite drives the example on its own database; the checks that involve no
// database (the command, the types) are made in the SQLite run.
if (TEST_DIALECT === 'sqlite') {
  // Started now and awaited by the last test: tsc takes seconds of CPU, the servers mostly wait.
  const typeCheck = run('npm', ['run', 'check'], { cwd: appDir })

  t.test('the tessera command comes with the package, without the unrelated npm package of that name', async (t) => {
    const help = await run('npx', ['--no-install', 'tessera', '--help'], { cwd: appDir })
    t.equal(help.code, 0, help.stderr)
    t.match(help.stdout, /^Usage: tessera <command>/)
  })

  t.test('the example on one SQLite file', async (t) => {
    const path = join(work, 'sqlite', 'app.db')
    await exercise(t, `sqlite:${path}`, async () => inspectSqlite(path))
  })

  t.test("the example type-checks against the package's types (TesseraTypes declares its user)", async (t) => {
    const check = await typeCheck
    t.equal(check.code, 0, check.stdout + check.stderr)
  })
} else {
  t.test('the example on PostgreSQL, in a schema of its own', async (t) => {
    const { url, drop } = createTestSchema()
    t.teardown(drop)
    await exercise(t, url, async () => await inspectPostgres(url))
  })
}
