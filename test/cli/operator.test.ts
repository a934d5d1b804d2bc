/**
 * The operator's commands, through the CLI (`runCli`: the `run` the executable calls, in this
 * process) against the database of a running app (SQLite or PostgreSQL): user show, set-password,
 * reactivate, delete; user create
 * --if-missing and token create --create-user (CI scripts that run twice, and one command from
 * nothing to a token); and --version. The prompts a person answers at a terminal are driven
 * through the CLI's own `run` with terminal-like streams.
 */
import { readFileSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { run } from '../../src/cli/index.js'
import { PASSWORD, auth, buildTestApp, login, me, register } from '../helpers/app.js'
import { assertFails, cliFor, runCli } from '../helpers/cli.js'

const NEW_PASSWORD = 'a brand new passphrase'

async function loginStatus (app: Parameters<typeof me>[0], username: string, password: string): Promise<number> {
  return (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } })).statusCode
}

t.test('user show: status, creation, last login and live sessions, as a list or JSON', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  await register(app, 'alice')
  await login(app, 'alice')
  await login(app, 'alice')

  const shown = await cli(['user', 'show', 'ALICE'])
  t.equal(shown.code, 0, shown.stderr)
  t.match(shown.stdout, /^id: +1\nusername: +alice\nemail: +-\nstatus: +active\ncreated: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nlast login: +\d{4}-.+Z\nlive sessions: +3\n$/)

  const json = await cli(['user', 'show', 'alice', '--json'])
  t.equal(json.code, 0)
  const body = JSON.parse(json.stdout) as Record<string, unknown>
  t.match(body, { id: 1, username: 'alice', email: null, createdAt: String, status: 'active', lastLoginAt: String, deactivatedAt: null, liveSessions: 3 })
  t.notMatch(json.stdout, /password|hash|argon/i, 'no password hash')

  await cli(['user', 'create', 'bob'])
  await cli(['user', 'deactivate', 'bob'])
  const bob = JSON.parse((await cli(['user', 'show', 'bob', '--json'])).stdout) as Record<string, unknown>
  t.match(bob, { status: 'deactivated', lastLoginAt: null, deactivatedAt: String, liveSessions: 0 })
  t.match((await cli(['user', 'show', 'bob'])).stdout, /^status: +deactivated since \d{4}-.+Z$/m)
  assertFails(t, await cli(['user', 'show', 'nobody']), 1, /no user named "nobody"/)
})

t.test('user set-password takes the password from stdin, and revokes every token of the user', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const first = await register(app, 'carol')
  const second = await login(app, 'carol')

  const result = await cli(['user', 'set-password', 'carol'], { input: `${NEW_PASSWORD}\n` })
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout, 'changed the password of carol; revoked 2 tokens\n')
  t.notMatch(result.stdout + result.stderr, /brand new/, 'the password is not printed back')
  for (const token of [first.token, second.token]) {
    const refused = await me(app, token)
    t.equal(refused.statusCode, 401, 'the running server sees the revocation')
    t.match(refused.json(), { code: 'TOKEN_REVOKED', reason: 'password_changed' }, 'and tells the token why')
  }
  t.equal(await loginStatus(app, 'carol', PASSWORD), 401, 'the old password is dead')
  t.equal(await loginStatus(app, 'carol', NEW_PASSWORD), 200, 'the new one works (its final newline dropped)')

  const activity = JSON.parse((await cli(['user', 'activity', 'carol', '--json'])).stdout) as Array<{ type: string, ip: string | null }>
  t.same(activity.map((entry) => entry.type), ['login', 'login_failed', 'password_changed', 'login', 'login'],
    "in the user's activity log: the two logins, the change, a login with the old password refused, one with the new")
  t.equal(activity[2]?.ip, null, 'the change without an address: the CLI made it')

  const flagged = await cli(['user', 'set-password', 'carol', '--password-stdin'], { input: PASSWORD })
  t.equal(flagged.code, 0, '--password-stdin is accepted, as for user create')
  t.equal(await loginStatus(app, 'carol', PASSWORD), 200)
})

t.test('user set-password --keep-sessions leaves the tokens alive', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const issued = await register(app, 'dave')
  const result = await cli(['user', 'set-password', 'dave', '--keep-sessions'], { input: NEW_PASSWORD })
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout, 'changed the password of dave; their tokens live on\n')
  t.equal((await me(app, issued.token)).statusCode, 200)
  t.equal(await loginStatus(app, 'dave', NEW_PASSWORD), 200)
})

t.test('user set-password refuses a bad password, an unknown user, and a password on the command line', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const issued = await register(app, 'erin')
  assertFails(t, await cli(['user', 'set-password', 'erin'], { input: '' }), 2, /no password on stdin/)
  assertFails(t, await cli(['user', 'set-password', 'erin'], { input: 'short' }), 2, /8 to 1024 characters/)
  assertFails(t, await cli(['user', 'set-password', 'nobody'], { input: NEW_PASSWORD }), 1, /no user named "nobody"/)
  const argv = await cli(['user', 'set-password', 'erin', `--password=${NEW_PASSWORD}`])
  assertFails(t, argv, 2, /passwords are not taken on the command line/)
  t.notMatch(argv.stderr, /brand new/)
  t.equal((await me(app, issued.token)).statusCode, 200, 'nothing changed: the token lives')
  t.equal(await loginStatus(app, 'erin', PASSWORD), 200)
})

t.test('user reactivate lets a deactivated user log in again; the tokens of before stay dead', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const issued = await register(app, 'frank')
  await cli(['user', 'deactivate', 'frank'])
  t.equal(await loginStatus(app, 'frank', PASSWORD), 401)

  const result = await cli(['user', 'reactivate', 'FRANK'])
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout, 'reactivated user frank\n')
  t.equal(await loginStatus(app, 'frank', PASSWORD), 200, 'logs in again')
  t.equal((await me(app, issued.token)).statusCode, 401, 'a session stopped by the deactivation does not come back')
  const activity = JSON.parse((await cli(['user', 'activity', 'frank', '--json'])).stdout) as Array<{ type: string }>
  t.same(activity.slice(0, 3).map((entry) => entry.type), ['login', 'user_reactivated', 'user_deactivated'], 'in the activity log')

  const again = await cli(['user', 'reactivate', 'frank'])
  t.equal(again.code, 0)
  t.equal(again.stdout, 'user frank was already active\n')
  assertFails(t, await cli(['user', 'reactivate', 'nobody']), 1, /no user named "nobody"/)
})

t.test('user delete removes the user and their tokens; a script must say --yes', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const issued = await register(app, 'grace')
  await login(app, 'grace')

  assertFails(t, await cli(['user', 'delete', 'grace']), 2, /refusing to delete a user without confirmation: stdin is not a terminal; pass --yes/)
  t.equal((await me(app, issued.token)).statusCode, 200, 'refused: nothing deleted')

  const subject = String(issued.user.id)
  t.ok((await app.tessera.activity.page(subject)).events.length > 0, 'the user has an activity log')
  const result = await cli(['user', 'delete', 'grace', '--yes'])
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout, 'deleted user grace and 2 tokens\n')
  t.same((await app.tessera.activity.page(subject)).events, [], 'their activity log (addresses, User-Agents) went with them')
  const refused = await me(app, issued.token)
  t.equal(refused.statusCode, 401, 'the tokens went with the user')
  t.match(refused.json(), { code: 'TOKEN_REVOKED', reason: 'revoked' }, 'revoked by an administrator, they are told')
  t.equal(await loginStatus(app, 'grace', PASSWORD), 401)
  assertFails(t, await cli(['user', 'show', 'grace']), 1, /no user named "grace"/)
  assertFails(t, await cli(['user', 'delete', 'grace', '-y']), 1, /no user named "grace"/)

  const reborn = await register(app, 'grace')
  t.not(reborn.user.id, issued.user.id, 'the name can be taken again, by a new user with a new id')
  const sessions = await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(reborn.token) })
  t.equal(sessions.json<unknown[]>().length, 1, 'who inherits none of the old sessions')
})

t.test('user create --if-missing succeeds quietly when the user exists, and leaves them alone', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const created = await cli(['user', 'create', 'heidi', '--if-missing'])
  t.equal(created.code, 0)
  t.match(created.stdout, /^[A-Za-z0-9_-]{24}\n$/, 'missing: created, and its password printed as without the option')
  const password = created.stdout.trim()

  for (const args of [['heidi', '--if-missing'], ['HEIDI', '--if-missing', '--password-stdin']]) {
    const again = await cli(['user', 'create', ...args], { input: NEW_PASSWORD })
    t.equal(again.code, 0, `${args.join(' ')}: exit 0`)
    t.equal(again.stdout, '', 'nothing on stdout: no password, since none was set')
    t.equal(again.stderr, '', 'nothing on stderr (a note only on a terminal)')
  }
  t.equal(await loginStatus(app, 'heidi', password), 200, 'the first password still works: the user was left as it was')
  assertFails(t, await cli(['user', 'create', 'heidi']), 1, /already exists/, 'without the option it is still an error')
  assertFails(t, await cli(['user', 'create', 'bad name', '--if-missing']), 2, /invalid username/)
})

t.test('token create --create-user: one command from nothing to a token, and again to another', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const first = await cli(['token', 'create', 'ci-bot', '--create-user', '--device', 'ci'])
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /^tsr_[0-9A-Za-z]{49}\n$/, 'only the token')
  t.equal(first.stderr, '')
  const response = await me(app, first.stdout.trim())
  t.equal(response.statusCode, 200)
  t.equal(response.json().user.username, 'ci-bot')

  const second = await cli(['token', 'create', 'ci-bot', '--create-user'])
  t.equal(second.code, 0)
  t.not(second.stdout, first.stdout)
  const users = JSON.parse((await cli(['user', 'list', '--json'])).stdout) as unknown[]
  t.equal(users.length, 1, 'the user was created once')
  t.equal((await me(app, first.stdout.trim())).statusCode, 200, 'the first token lives on')

  assertFails(t, await cli(['token', 'create', 'bad name', '--create-user']), 2, /invalid username/)
  await cli(['user', 'deactivate', 'ci-bot'])
  assertFails(t, await cli(['token', 'create', 'ci-bot', '--create-user']), 1, /deactivated/, 'a deactivated user is not brought back')
})

t.test('tessera --version prints the package version', async (t) => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  const result = await runCli(['--version'], { env: { DATABASE_URL: 'not a url' } })
  t.equal(result.code, 0)
  t.equal(result.stdout, `${version}\n`)
  t.equal(result.stderr, '')
  assertFails(t, await runCli(['--version', 'extra']), 2, /unexpected argument "extra"/)
  t.match((await runCli(['--help'])).stdout, /tessera --version/, 'the help mentions it')
})

/** Streams that look like a person's terminal, for the prompts. */
function terminal (env: Record<string, string>, typed: string) {
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin })
  const stdout = new PassThrough()
  const stderr = Object.assign(new PassThrough(), { isTTY: true })
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  stdin.write(typed)
  return { io: { stdin, stdout, stderr, env }, output: () => ({ stdout: out, stderr: err }) }
}

t.test('at a terminal, user delete asks first, and set-password prompts without echo', async (t) => {
  const { app, config } = await buildTestApp(t)
  const env = { DATABASE_URL: config.databaseUrl }
  const issued = await register(app, 'ivan')

  const declined = terminal(env, 'n\n')
  t.equal(await run(['user', 'delete', 'ivan'], declined.io), 1)
  t.match(declined.output().stderr, /Delete user ivan \(id \d+\) and their 1 live token\? This cannot be undone\. \[y\/N\] /)
  t.match(declined.output().stderr, /tessera: cancelled: nothing was deleted/)
  t.equal((await me(app, issued.token)).statusCode, 200)

  const typed = terminal(env, `${NEW_PASSWORD}\r`)
  t.equal(await run(['user', 'set-password', 'ivan', '--keep-sessions'], typed.io), 0)
  t.match(typed.output().stderr, /^Password for ivan: \n$/, 'the prompt, and no echo of what was typed')
  t.equal(await loginStatus(app, 'ivan', NEW_PASSWORD), 200)

  const accepted = terminal(env, 'yes\n')
  t.equal(await run(['user', 'delete', 'ivan'], accepted.io), 0)
  t.match(accepted.output().stdout, /^deleted user ivan and 2 tokens\n$/)
  t.equal((await me(app, issued.token)).statusCode, 401)
})
