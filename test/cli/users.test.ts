import t from 'tap'
import { buildTestApp, login, me, register } from '../helpers/app.js'
import { assertFails, cliFor } from '../helpers/cli.js'

t.test('user create without a password generates one, prints only it, and it logs in', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const result = await cli(['user', 'create', 'alice', '--email', 'alice@example.com'])
  t.equal(result.code, 0)
  t.equal(result.stderr, '', 'no note when stderr is not a terminal')
  t.match(result.stdout, /^[A-Za-z0-9_-]{24}\n$/, 'the password alone, on one line')
  const issued = await login(app, 'alice', result.stdout.trim())
  t.equal(issued.user.email, 'alice@example.com')
  const second = await cli(['user', 'create', 'bob'])
  t.not(second.stdout, result.stdout, 'each password is new')
})

t.test('user create --password-stdin takes the password from a pipe, without its final newline', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const result = await cli(['user', 'create', 'Carol', '--password-stdin'], { input: 'pass word with spaces\n' })
  t.equal(result.code, 0)
  t.match(result.stdout, /^created user Carol \(id \d+\)\n$/)
  t.notMatch(result.stdout, /pass word/, 'the password is not printed back')
  await login(app, 'carol', 'pass word with spaces')
  const noNewline = await cli(['user', 'create', 'dave', '--password-stdin'], { input: 'exactly8' })
  t.equal(noNewline.code, 0)
  await login(app, 'dave', 'exactly8')
})

t.test('user create refuses bad passwords on stdin, and taken usernames', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  assertFails(t, await cli(['user', 'create', 'erin', '--password-stdin'], { input: '' }), 2, /no password on stdin/)
  assertFails(t, await cli(['user', 'create', 'erin', '--password-stdin'], { input: 'short\n' }), 2, /8 to 1024 characters/)
  assertFails(t, await cli(['user', 'create', 'erin', '--password-stdin'], { input: 'x'.repeat(1025) }), 2, /8 to 1024 characters/)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'erin', password: 'short' } })).statusCode, 401,
    'nobody was created')
  await register(app, 'Frank')
  for (const username of ['Frank', 'frank', 'FRANK']) {
    assertFails(t, await cli(['user', 'create', username]), 1, /a user named ".+" already exists/, username)
  }
})

t.test('user deactivate locks the user out at once, and is idempotent', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const issued = await register(app, 'grace')
  t.equal((await me(app, issued.token)).statusCode, 200)
  const result = await cli(['user', 'deactivate', 'GRACE'])
  t.equal(result.code, 0)
  t.equal(result.stdout, 'deactivated user grace\n')
  const refused = await me(app, issued.token)
  t.equal(refused.statusCode, 401, 'the running server sees the change made by another process')
  t.match(refused.json(), { code: 'TOKEN_REVOKED', reason: 'user_deactivated' }, 'its tokens are revoked, and say why')
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'grace', password: 'correct horse battery' } })
  t.equal(login.statusCode, 401)
  t.equal(login.json().code, 'USER_INACTIVE')
  const again = await cli(['user', 'deactivate', 'grace'])
  t.equal(again.code, 0)
  t.equal(again.stdout, 'user grace was already deactivated\n')
  assertFails(t, await cli(['user', 'deactivate', 'nobody']), 1, /no user named "nobody"/)
})

t.test('user list shows a table for people and JSON for scripts', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  t.equal((await cli(['user', 'list'])).stdout, 'no users\n')
  t.equal((await cli(['user', 'list', '--json'])).stdout, '[]\n')
  await register(app, 'heidi')
  await cli(['user', 'create', 'ivan', '--email', 'ivan@example.com'])
  await cli(['user', 'deactivate', 'ivan'])

  const table = await cli(['user', 'list'])
  t.equal(table.code, 0)
  const [header, ...rows] = table.stdout.trimEnd().split('\n')
  t.match(header, /^ID +USERNAME +EMAIL +CREATED +LAST LOGIN +STATUS$/)
  t.equal(rows.length, 2)
  t.match(rows[0], /^1 +heidi +- +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\d{4}-.+Z +active$/)
  t.match(rows[1], /^2 +ivan +ivan@example\.com +\S+ +never +deactivated$/)

  const listed = await cli(['user', 'list', '--json'])
  t.equal(listed.code, 0, listed.stderr)
  const json = JSON.parse(listed.stdout) as Array<Record<string, unknown>>
  t.match(json, [
    { id: 1, username: 'heidi', email: null, lastLoginAt: String, deactivatedAt: null },
    { id: 2, username: 'ivan', email: 'ivan@example.com', lastLoginAt: null, deactivatedAt: String }
  ])
  t.notMatch(JSON.stringify(json), /password|hash|argon/i, 'no password hash')
})
