/**
 * `TESSERA_TRUST_PROXY` (audit item 9): `true` would believe the left-most `X-Forwarded-For`
 * entry, which the client writes, so it is refused at startup; a proxy list or a hop count takes
 * the right-most entry that no trusted proxy wrote, which a client cannot choose.
 */
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { buildTestApp, uniqueName } from '../helpers/app.js'

const problemsOf = (value: string): string[] => {
  try {
    loadConfig({ TESSERA_TRUST_PROXY: value })
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

t.test('true is refused, with a message that says what to give instead', async (t) => {
  for (const value of ['true', 'TRUE', ' true ']) {
    const problems = problemsOf(value)
    t.equal(problems.length, 1, value)
    t.match(problems[0], /^TESSERA_TRUST_PROXY=".*" is refused: .*left-most X-Forwarded-For.*addresses\/CIDRs of your proxies.*number of proxy hops/, value)
  }
})

t.test('false, hop counts and address/CIDR lists are accepted', async (t) => {
  t.equal(loadConfig({}).trustProxy, false, 'the default')
  t.equal(loadConfig({ TESSERA_TRUST_PROXY: 'false' }).trustProxy, false)
  t.equal(loadConfig({ TESSERA_TRUST_PROXY: '0' }).trustProxy, false, '0 hops: trust nothing')
  t.equal(loadConfig({ TESSERA_TRUST_PROXY: '1' }).trustProxy, 1, 'one hop, not "true"')
  t.equal(loadConfig({ TESSERA_TRUST_PROXY: '2' }).trustProxy, 2)
  t.equal(loadConfig({ TESSERA_TRUST_PROXY: '127.0.0.1' }).trustProxy, '127.0.0.1')
  t.equal(loadConfig({ TESSERA_TRUST_PROXY: '10.0.0.1, 10.1.0.0/16 ,2001:db8::/32,loopback' }).trustProxy,
    '10.0.0.1,10.1.0.0/16,2001:db8::/32,loopback')
})

t.test('anything else is refused', async (t) => {
  for (const value of ['yes', '*', '10.0.0.0/33', '2001:db8::/129', '10.0.0.1/8/8', '10.0.0.1,', 'proxy.example.com', '-1', '1.5', '101']) {
    t.match(problemsOf(value), [/^TESSERA_TRUST_PROXY=.* is not valid: expected false, the number of proxy hops/], value)
  }
})

const loginFrom = async (app: Awaited<ReturnType<typeof buildTestApp>>['app'], remoteAddress: string, forwardedFor: string): Promise<number> =>
  (await app.inject({
    method: 'POST',
    url: '/auth/login',
    remoteAddress,
    headers: { 'x-forwarded-for': forwardedFor },
    payload: { username: uniqueName(), password: 'wrong password' }
  })).statusCode

t.test('behind 127.0.0.1, a spoofed left-most X-Forwarded-For entry does not change the address the limits count', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '2/1m', TESSERA_TRUST_PROXY: '127.0.0.1' })
  // The client sends `X-Forwarded-For: <anything>`; the proxy at 127.0.0.1 appends the client's real address.
  const codes = []
  for (let i = 0; i < 3; i++) codes.push(await loginFrom(app, '127.0.0.1', `198.51.100.${i}, 203.0.113.5`))
  t.same(codes, [401, 401, 429], 'a new left-most entry each time does not give a new budget')
  t.equal(await loginFrom(app, '127.0.0.1', '203.0.113.6'), 401, 'the next real client has its own budget')
  t.equal(await loginFrom(app, '203.0.113.6', '198.51.100.9'), 401,
    'a client that reaches the service directly is counted by its own address, whatever it forwards')
  t.equal(await loginFrom(app, '203.0.113.6', '198.51.100.10'), 429)
})

t.test('one hop: the right-most entry is the client, whatever the client wrote before it', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '2/1m', TESSERA_TRUST_PROXY: '1' })
  const codes = []
  for (let i = 0; i < 3; i++) codes.push(await loginFrom(app, '10.9.9.9', `198.51.100.${i}, 203.0.113.5`))
  t.same(codes, [401, 401, 429])
  t.equal(await loginFrom(app, '10.9.9.9', '198.51.100.0, 203.0.113.6'), 401, 'another client behind the proxy')
})
