import t from 'tap'
import { auth, buildTestApp, login, me, register } from '../helpers/app.js'
import { assertFails, cliFor } from '../helpers/cli.js'

interface CliSession {
  id: string
  device: string
  createdAt: string
  expiry: string | null
  lastUsedAt: string | null
  createdIp: string | null
  lastUsedIp: string | null
  userAgent: string | null
}

t.test('token create prints only the token, which authenticates against the running server', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  await register(app, 'alice')
  const result = await cli(['token', 'create', 'alice', '--device', 'ci'])
  t.equal(result.code, 0)
  t.equal(result.stderr, '')
  t.match(result.stdout, /^tsr_[0-9A-Za-z]{49}\n$/, 'TOKEN=$(tessera token create …) gets exactly the token')
  const token = result.stdout.trim()
  const response = await me(app, token)
  t.equal(response.statusCode, 200)
  t.equal(response.json().user.username, 'alice')
  const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })).json<Array<{ device: string, current: boolean }>>()
  t.match(sessions.find((session) => session.current), { device: 'ci' })

  const plain = await cli(['token', 'create', 'ALICE'])
  t.equal(plain.code, 0, 'the username matches case-insensitively')
  const devices = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })).json<Array<{ device: string }>>()
  t.same(devices.map((session) => session.device).sort(), ['ci', 'cli', 'lightMyRequest'], 'the default device is "cli"')
})

t.test('token create --ttl sets the expiry; none never expires; the default is TESSERA_TOKEN_TTL', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl, { TESSERA_TOKEN_TTL: '2d' })
  await register(app, 'bob')
  const before = Date.now()
  t.equal((await cli(['token', 'create', 'bob', '--device', 'hour', '--ttl', '1h'])).code, 0)
  t.equal((await cli(['token', 'create', 'bob', '--device', 'forever', '--ttl', 'none'])).code, 0)
  t.equal((await cli(['token', 'create', 'bob', '--device', 'default'])).code, 0)
  const after = Date.now()
  const sessions = JSON.parse((await cli(['token', 'list', 'bob', '--json'])).stdout) as CliSession[]
  const expiryOf = (device: string): string | null | undefined => sessions.find((session) => session.device === device)?.expiry
  const within = (iso: string | null | undefined, ttl: number): boolean =>
    iso != null && Date.parse(iso) >= before + ttl && Date.parse(iso) <= after + ttl
  t.ok(within(expiryOf('hour'), 3_600_000), '--ttl 1h')
  t.equal(expiryOf('forever'), null, '--ttl none')
  t.ok(within(expiryOf('default'), 2 * 86_400_000), 'TESSERA_TOKEN_TTL from the environment, as the server reads it')
})

t.test('token create follows the server settings: prefix and token limit', async (t) => {
  const { app, config } = await buildTestApp(t)
  await register(app, 'carol')
  const prefixed = await cliFor(config.databaseUrl, { TESSERA_TOKEN_PREFIX: 'acme_' })(['token', 'create', 'carol'])
  t.match(prefixed.stdout, /^acme_[0-9A-Za-z]{49}\n$/)
  const limited = cliFor(config.databaseUrl, { TESSERA_TOKEN_LIMIT_PER_USER: '2' })
  assertFails(t, await limited(['token', 'create', 'carol']), 1, /token limit reached: a user may hold at most 2 live tokens/)
})

t.test('token create refuses unknown and deactivated users', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  assertFails(t, await cli(['token', 'create', 'nobody']), 1, /no user named "nobody"/)
  await register(app, 'dave')
  await cli(['user', 'deactivate', 'dave'])
  assertFails(t, await cli(['token', 'create', 'dave']), 1, /user dave is deactivated/)
})

t.test('token list: a table for people, JSON matching the API for scripts', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  await register(app, 'erin')
  await cli(['user', 'create', 'idle'])
  const laptop = await login(app, 'erin', undefined, 'laptop')
  await cli(['token', 'create', 'erin', '--device', 'ci', '--ttl', 'none'])
  t.equal((await me(app, laptop.token)).statusCode, 200)
  await app.tessera.database.tokenLookup.flushUses() // a use is written after its turn: now, before the CLI reads it

  const table = await cli(['token', 'list', 'erin'])
  t.equal(table.code, 0)
  const [header, ...rows] = table.stdout.trimEnd().split('\n')
  t.match(header, /^ID +DEVICE +CREATED +CREATED FROM +LAST USED +LAST USED FROM +EXPIRES +SCOPES +USER AGENT$/)
  t.equal(rows.length, 3)
  t.match(rows[0], /^[0-9a-f-]{36} +ci +\S+Z +- +never +- +never +\* +-$/, 'newest first; made by the CLI: no address, no User-Agent')
  t.match(rows.find((row) => row.includes('laptop')),
    new RegExp(`^${laptop.tokenId} +laptop +\\S+Z +127\\.0\\.0\\.1 +\\S+Z +127\\.0\\.0\\.1 +\\S+Z +\\* +lightMyRequest$`))

  const json = JSON.parse((await cli(['token', 'list', 'erin', '--json'])).stdout) as CliSession[]
  const api = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(laptop.token) })).json<Array<CliSession & { current: boolean }>>()
  t.same(json, api.map(({ current: _current, ...session }) => session), 'the same sessions as GET /auth/tokens')
  t.notMatch(JSON.stringify(json), /tsr_/, 'never a token secret')

  t.equal((await cli(['token', 'list', 'idle'])).stdout, 'idle has no live tokens\n')
  t.equal((await cli(['token', 'list', 'idle', '--json'])).stdout, '[]\n')
  assertFails(t, await cli(['token', 'list', 'nobody']), 1, /no user named "nobody"/)
})

t.test('token revoke ends one session at once on the running server', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const phone = await register(app, 'frank')
  const laptop = await login(app, 'frank')
  t.equal((await me(app, phone.token)).statusCode, 200, 'used once, so that a cached lookup would be stale')
  const result = await cli(['token', 'revoke', phone.tokenId])
  t.equal(result.code, 0)
  t.equal(result.stdout, `revoked token ${phone.tokenId}\n`)
  t.equal((await me(app, phone.token)).statusCode, 401, 'revoked')
  t.equal((await me(app, laptop.token)).statusCode, 200, 'the other session lives')
  assertFails(t, await cli(['token', 'revoke', phone.tokenId]), 1, /no token with id/)
  assertFails(t, await cli(['token', 'revoke', 'not-a-uuid']), 1, /no token with id "not-a-uuid"/)
})

t.test('token revoke-all logs a user out everywhere, and nobody else', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const first = await register(app, 'grace')
  const second = await login(app, 'grace')
  const other = await register(app, 'heidi')
  const result = await cli(['token', 'revoke-all', 'Grace'])
  t.equal(result.code, 0)
  t.equal(result.stdout, 'revoked 2 tokens of grace\n')
  t.equal((await me(app, first.token)).statusCode, 401)
  t.equal((await me(app, second.token)).statusCode, 401)
  t.equal((await me(app, other.token)).statusCode, 200)
  t.equal((await cli(['token', 'revoke-all', 'grace'])).stdout, 'revoked 0 tokens of grace\n')
  assertFails(t, await cli(['token', 'revoke-all', 'nobody']), 1, /no user named "nobody"/)
})

t.test('token create --scope, repeatable; the default is TESSERA_DEFAULT_SCOPES; a bad scope is a usage error', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  await register(app, 'carol')
  const scoped = await cli(['token', 'create', 'carol', '--device', 'export', '--scope', 'orders:write', '--scope', 'orders:read'])
  t.equal(scoped.code, 0, scoped.stderr)
  const verified = await app.inject({ method: 'GET', url: '/auth/verify', headers: auth(scoped.stdout.trim()) })
  t.equal(verified.headers['x-tessera-scopes'], 'orders:read orders:write')
  t.equal((await cli(['token', 'create', 'carol', '--device', 'plain'])).code, 0)
  t.equal((await cliFor(config.databaseUrl, { TESSERA_DEFAULT_SCOPES: 'reports' })(['token', 'create', 'carol', '--device', 'narrow'])).code, 0)
  const sessions = JSON.parse((await cli(['token', 'list', 'carol', '--json'])).stdout) as Array<{ device: string, scopes: string[] }>
  const scopesOf = (device: string): string[] | undefined => sessions.find((session) => session.device === device)?.scopes
  t.same(scopesOf('export'), ['orders:read', 'orders:write'])
  t.same(scopesOf('plain'), ['*'])
  t.same(scopesOf('narrow'), ['reports'])
  assertFails(t, await cli(['token', 'create', 'carol', '--scope', 'Not Valid']), 2, /--scope: "Not Valid" is not a scope/)
})
