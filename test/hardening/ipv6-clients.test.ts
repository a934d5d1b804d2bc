/**
 * Per-address limits count an IPv6 client by its /64 (audit item 8): a host that owns a /64 cannot
 * rotate through its addresses to get a fresh budget each time.
 */
import t from 'tap'
import { addressKey } from '../../src/http/client-address.js'
import { PASSWORD, buildTestApp, uniqueName } from '../helpers/app.js'

t.test('addressKey: IPv6 → its /64, IPv4 and IPv4-mapped → the IPv4 address', async (t) => {
  const cases: Array<[string, string]> = [
    ['192.0.2.1', '192.0.2.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0DB8:0000:0000:ffff:ffff:ffff:ffff', '2001:db8:0:0::/64'],
    ['2001:db8:0:0:1::', '2001:db8:0:0::/64'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1::', '2001:db8:1:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['', '']
  ]
  for (const [ip, key] of cases) t.equal(addressKey(ip), key, ip)
})

const attempt = async (app: Awaited<ReturnType<typeof buildTestApp>>['app'], remoteAddress: string, url = '/auth/login') =>
  (await app.inject({ method: 'POST', url, remoteAddress, payload: { username: uniqueName(), password: url === '/auth/login' ? 'wrong password' : PASSWORD } })).statusCode

t.test('login: rotating addresses within one /64 stays limited; another /64 is not', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '3/1m' })
  const codes = [
    await attempt(app, '2001:db8:aa:1::1'),
    await attempt(app, '2001:db8:aa:1::2'),
    await attempt(app, '2001:db8:aa:1:ffff:ffff:ffff:fffe'),
    await attempt(app, '2001:db8:aa:1:1234::9')
  ]
  t.same(codes, [401, 401, 401, 429], 'four addresses of one /64 share one budget')
  t.equal(await attempt(app, '2001:0db8:00aa:0001::77'), 429, 'however the address is written')
  t.equal(await attempt(app, '2001:db8:aa:2::1'), 401, 'the next /64 has its own budget')
})

t.test('login: an IPv4-mapped address counts as that IPv4 address', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '2/1m' })
  t.same([await attempt(app, '192.0.2.7'), await attempt(app, '::ffff:192.0.2.7'), await attempt(app, '192.0.2.7')], [401, 401, 429])
  t.equal(await attempt(app, '192.0.2.8'), 401, 'the neighbouring IPv4 address is another client')
})

t.test('register: rotating addresses within one /64 stays limited', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '2/1m' })
  const codes = []
  for (let i = 1; i <= 3; i++) codes.push(await attempt(app, `2001:db8:bb::${i}`, '/auth/register'))
  t.same(codes, [201, 201, 429])
  t.equal(await attempt(app, '2001:db8:bc::1', '/auth/register'), 201, 'another /64')
})
