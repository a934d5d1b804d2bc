/**
 * Sessions a person recognises (issue 15): each session records the client address at its
 * creation and at its last use (the address the rate limits see, through TESSERA_TRUST_PROXY),
 * and the User-Agent it was created with (at most 512 characters); `GET /auth/tokens` shows them.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { PASSWORD, auth, buildTestApp, register, uniqueName } from '../helpers/app.js'
import { cliFor } from '../helpers/cli.js'
import { testClock } from '../helpers/clock.js'

interface SessionView {
  id: string
  device: string
  lastUsedAt: string | null
  createdIp: string | null
  lastUsedIp: string | null
  userAgent: string | null
  current: boolean
}

interface From {
  remoteAddress?: string
  forwardedFor?: string
  userAgent?: string
}

function headersOf (from: From, more: Record<string, string> = {}): Record<string, string> {
  return {
    ...more,
    ...(from.forwardedFor === undefined ? {} : { 'x-forwarded-for': from.forwardedFor }),
    ...(from.userAgent === undefined ? {} : { 'user-agent': from.userAgent })
  }
}

async function loginFrom (app: FastifyInstance, username: string, from: From): Promise<{ token: string, tokenId: string }> {
  const response = await app.inject({
    method: 'POST', url: '/auth/login', remoteAddress: from.remoteAddress, headers: headersOf(from), payload: { username, password: PASSWORD }
  })
  if (response.statusCode !== 200) throw new Error(`login: ${response.statusCode} ${response.body}`)
  return response.json()
}

async function sessionsOf (app: FastifyInstance, token: string, from: From = {}): Promise<SessionView[]> {
  const response = await app.inject({ method: 'GET', url: '/auth/tokens', remoteAddress: from.remoteAddress, headers: headersOf(from, auth(token)) })
  if (response.statusCode !== 200) throw new Error(`sessions: ${response.statusCode} ${response.body}`)
  return response.json()
}

async function sessionOf (app: FastifyInstance, token: string, id: string, from: From = {}): Promise<SessionView> {
  return (await sessionsOf(app, token, from)).find((session) => session.id === id)!
}

const MOBILE_SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'

t.test('without a trusted proxy: the connection\'s address, whatever X-Forwarded-For says', async (t) => {
  const { app } = await buildTestApp(t)
  const { user } = await register(app)
  const phone = await loginFrom(app, user.username, { remoteAddress: '198.51.100.7', forwardedFor: '203.0.113.99', userAgent: MOBILE_SAFARI })
  const laptop = await loginFrom(app, user.username, { remoteAddress: '192.0.2.10' })

  const fresh = await sessionOf(app, laptop.token, phone.tokenId, { remoteAddress: '192.0.2.10' })
  t.equal(fresh.createdIp, '198.51.100.7', 'the address the login came from; the forged header is ignored')
  t.equal(fresh.lastUsedIp, null, 'never used yet')
  t.equal(fresh.lastUsedAt, null)
  t.equal(fresh.userAgent, MOBILE_SAFARI, 'the User-Agent it was created with')
  t.equal(fresh.device, 'Safari on iPhone')

  const listed = await sessionsOf(app, phone.token, { remoteAddress: '198.51.100.8', forwardedFor: '203.0.113.100', userAgent: 'something else/1' })
  const used = listed.find((session) => session.current)!
  t.equal(used.createdIp, '198.51.100.7', 'where it was created does not move')
  t.equal(used.lastUsedIp, '198.51.100.8', 'where it was last used: this request')
  t.equal(used.userAgent, MOBILE_SAFARI, 'the User-Agent of later requests is not recorded')
  t.match(listed.find((session) => session.id === laptop.tokenId), { createdIp: '192.0.2.10', lastUsedIp: '192.0.2.10' })
})

t.test('behind a trusted proxy: the client X-Forwarded-For names, as the rate limits count it', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_TRUST_PROXY: '10.0.0.5' })
  const { user } = await register(app)
  // The client wrote the left-most entry; the proxy at 10.0.0.5 appended the address it saw.
  const phone = await loginFrom(app, user.username, { remoteAddress: '10.0.0.5', forwardedFor: '192.0.2.1, 198.51.100.23' })
  t.equal((await sessionOf(app, phone.token, phone.tokenId, { remoteAddress: '10.0.0.5', forwardedFor: '2001:DB8::42' })).lastUsedIp,
    '2001:db8::42', 'an IPv6 client: its whole address (lower case), not the /64 it is counted under')
  const session = await sessionOf(app, phone.token, phone.tokenId)
  t.equal(session.createdIp, '198.51.100.23', 'the right-most entry the trusted proxy wrote, not the one the client chose')

  const direct = await loginFrom(app, user.username, { remoteAddress: '203.0.113.9', forwardedFor: '192.0.2.1' })
  t.equal((await sessionOf(app, phone.token, direct.tokenId)).createdIp, '203.0.113.9',
    'a client that reaches the service directly is recorded by its own address, whatever it forwards')
})

t.test('a hop count, and a dual-stack socket\'s IPv4-mapped address', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_TRUST_PROXY: '1' })
  const { user } = await register(app)
  const behind = await loginFrom(app, user.username, { remoteAddress: '10.9.9.9', forwardedFor: '198.51.100.1, 198.51.100.2' })
  const mapped = await loginFrom(app, user.username, { remoteAddress: '::ffff:192.0.2.77' })
  const sessions = await sessionsOf(app, behind.token, { remoteAddress: '10.9.9.9', forwardedFor: '198.51.100.3' })
  t.match(sessions.find((session) => session.id === behind.tokenId), { createdIp: '198.51.100.2', lastUsedIp: '198.51.100.3' })
  t.match(sessions.find((session) => session.id === mapped.tokenId), { createdIp: '192.0.2.77' }, 'shown as the IPv4 address it is')
})

t.test('lastUsedIp is written with lastUsedAt: at most once per refresh interval', async (t) => {
  const { app } = await buildTestApp(t, { minRefreshInterval: 60_000 })
  const { user } = await register(app)
  const phone = await loginFrom(app, user.username, { remoteAddress: '198.51.100.1' })
  const first = await sessionOf(app, phone.token, phone.tokenId, { remoteAddress: '198.51.100.2' })
  t.equal(first.lastUsedIp, '198.51.100.2')
  const again = await sessionOf(app, phone.token, phone.tokenId, { remoteAddress: '198.51.100.3' })
  t.equal(again.lastUsedIp, '198.51.100.2', 'a use within the interval writes nothing, its address neither')
  t.equal(again.lastUsedAt, first.lastUsedAt)

  const clock = testClock()
  const { app: eager } = await buildTestApp(t, { minRefreshInterval: 1, clock: clock.now })
  const { user: other } = await register(eager)
  const tablet = await loginFrom(eager, other.username, { remoteAddress: '198.51.100.1' })
  t.equal((await sessionOf(eager, tablet.token, tablet.tokenId, { remoteAddress: '198.51.100.2' })).lastUsedIp, '198.51.100.2')
  clock.advance(1)
  t.equal((await sessionOf(eager, tablet.token, tablet.tokenId, { remoteAddress: '198.51.100.3' })).lastUsedIp, '198.51.100.3',
    'once the interval has passed, the next use records its address')
})

t.test('the User-Agent is kept to 512 characters; none, or an empty one, is null', async (t) => {
  const { app } = await buildTestApp(t)
  const { user } = await register(app)
  const long = `MyApp/1.0 (${'x'.repeat(700)})`
  const cut = await loginFrom(app, user.username, { userAgent: long })
  const none = await loginFrom(app, user.username, { userAgent: '' })
  const sessions = await sessionsOf(app, cut.token)
  const kept = sessions.find((session) => session.id === cut.tokenId)!.userAgent!
  t.equal(kept.length, 512)
  t.equal(kept, long.slice(0, 512), 'the first 512 characters')
  t.equal(sessions.find((session) => session.id === none.tokenId)!.userAgent, null)
  t.equal(sessions.find((session) => session.id === none.tokenId)!.device, 'unknown device')
})

t.test('register and personal access tokens record where they were made too', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const registered = await app.inject({
    method: 'POST', url: '/auth/register', remoteAddress: '198.51.100.40', headers: { 'user-agent': 'Shop/3.1 Dart/3.3 (dart:io)' }, payload: { username, password: PASSWORD }
  })
  t.equal(registered.statusCode, 201)
  const { token, tokenId } = registered.json()
  const minted = await app.inject({
    method: 'POST',
    url: '/auth/tokens',
    remoteAddress: '198.51.100.41',
    headers: { ...auth(token), 'user-agent': 'curl/8.5.0' },
    payload: { device: 'nightly export', scopes: ['reports'] }
  })
  t.equal(minted.statusCode, 201)
  const sessions = await sessionsOf(app, token, { remoteAddress: '198.51.100.42' })
  t.match(sessions.find((session) => session.id === tokenId),
    { device: 'Shop 3.1 (Flutter app)', createdIp: '198.51.100.40', userAgent: 'Shop/3.1 Dart/3.3 (dart:io)', lastUsedIp: '198.51.100.41' },
    'its first use (minting) recorded; the listing, within the refresh interval, is not')
  t.match(sessions.find((session) => session.id === minted.json().tokenId),
    { device: 'nightly export', createdIp: '198.51.100.41', userAgent: 'curl/8.5.0', lastUsedIp: null })
})

t.test('an embedding application passes address and userAgent to tokens.issue, and an address to tokens.verify', async (t) => {
  const { app } = await buildTestApp(t)
  const { user, token } = await register(app)
  const { tokens } = app.tessera
  const issued = await tokens.issue(user, { device: 'kiosk', address: '::ffff:203.0.113.5', userAgent: `Kiosk/2 ${'y'.repeat(600)}\u0007` })
  const unknown = await tokens.issue(user, { device: 'socket', address: 'not an address' })
  const plain = await tokens.issue(user, { device: 'plain' })

  t.ok(await tokens.verify(issued.token, { address: '2001:db8::7' }), 'a use over another transport')
  t.ok(await tokens.verify(unknown.token), 'a use whose address is unknown')
  const sessions = await sessionsOf(app, token)
  const byId = (id: string): SessionView => sessions.find((session) => session.id === id)!
  t.equal(byId(issued.tokenId).createdIp, '203.0.113.5')
  t.equal(byId(issued.tokenId).lastUsedIp, '2001:db8::7')
  t.equal(byId(issued.tokenId).userAgent, `Kiosk/2 ${'y'.repeat(600)}`.slice(0, 512), 'cut to 512 characters, without a control character')
  t.match(byId(unknown.tokenId), { createdIp: null, lastUsedIp: null, userAgent: null }, 'what is not an address is recorded as unknown')
  t.not(byId(unknown.tokenId).lastUsedAt, null, 'the use itself is recorded')
  t.match(byId(plain.tokenId), { createdIp: null, lastUsedIp: null, userAgent: null })
})

t.test('a use without an address keeps the address recorded before', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { minRefreshInterval: 1, clock: clock.now })
  const { user } = await register(app)
  const phone = await loginFrom(app, user.username, { remoteAddress: '198.51.100.1' })
  t.equal((await sessionOf(app, phone.token, phone.tokenId, { remoteAddress: '198.51.100.2' })).lastUsedIp, '198.51.100.2')
  clock.advance(1)
  t.ok(await app.tessera.tokens.verify(phone.token))
  const session = (await app.tessera.tokens.list(String(user.id))).find((listed) => listed.id === phone.tokenId)!
  t.equal(session.lastUsedAt, new Date(clock.now()).toISOString(), 'the use was recorded')
  t.equal(session.lastUsedIp, '198.51.100.2', 'without an address of its own')
})

t.test('a token made by the CLI has no address or User-Agent; `token list` shows the new fields', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const username = uniqueName('cli')
  await register(app, username)
  const phone = await loginFrom(app, username, { remoteAddress: '198.51.100.61', userAgent: 'MyApp/2.3.1 CFNetwork/1410.0.3 Darwin/22.6.0' })
  const made = await cli(['token', 'create', username, '--device', 'ci'])
  t.equal(made.code, 0, made.stderr)
  t.equal((await sessionsOf(app, made.stdout.trim(), { remoteAddress: '198.51.100.62' })).length, 3)

  const json = await cli(['token', 'list', username, '--json'])
  t.equal(json.code, 0, json.stderr)
  const listed = JSON.parse(json.stdout) as SessionView[]
  t.match(listed.find((session) => session.device === 'ci'), { createdIp: null, lastUsedIp: '198.51.100.62', userAgent: null })
  t.match(listed.find((session) => session.id === phone.tokenId), {
    device: 'MyApp 2.3.1 (iOS app)', createdIp: '198.51.100.61', lastUsedIp: null, userAgent: 'MyApp/2.3.1 CFNetwork/1410.0.3 Darwin/22.6.0'
  })

  const table = await cli(['token', 'list', username])
  t.equal(table.code, 0, table.stderr)
  const [header, ...rows] = table.stdout.trimEnd().split('\n')
  t.match(header, /^ID +DEVICE +CREATED +CREATED FROM +LAST USED +LAST USED FROM +EXPIRES +SCOPES +USER AGENT$/)
  t.match(rows.find((row) => row.startsWith(phone.tokenId)),
    / MyApp 2\.3\.1 \(iOS app\) +\S+Z +198\.51\.100\.61 +never +- +\S+Z +\* +MyApp\/2\.3\.1 CFNetwork\/1410\.0\.3 Darwin\/22\.6\.0$/)
  t.match(rows.find((row) => / ci /.test(row)), / ci +\S+Z +- +\S+Z +198\.51\.100\.62 +\S+Z +\* +-$/)
})
