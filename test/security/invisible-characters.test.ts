/**
 * Device labels and usernames hold no bidirectional controls and no invisible characters (audit
 * item 17): they are printed in session lists and by the CLI, where `evil\u202Egnp.exe` would read
 * as `evilexe.png`.
 */
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { deviceFromUserAgent } from '../../src/http/device.js'
import { PASSWORD, auth, buildTestApp, register, uniqueName } from '../helpers/app.js'

const BIDI_CONTROLS = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c]
const ZERO_WIDTH = [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x00ad]

/** Every code point of the given Unicode property. */
function codePointsOf (property: RegExp): number[] {
  const found: number[] = []
  for (let code = 0; code <= 0x10ffff; code++) if (property.test(String.fromCodePoint(code))) found.push(code)
  return found
}
const FORMAT_CHARACTERS = codePointsOf(/^\p{Cf}$/u)
const SEPARATORS = [0x2028, 0x2029]
const hex = (code: number): string => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`
/** Text with everything outside printable ASCII escaped, so that the test's own output cannot be reordered. */
const shown = (text: string): string => JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

t.test('the listed bidirectional and zero-width characters are all format characters (Cf)', async (t) => {
  for (const code of [...BIDI_CONTROLS, ...ZERO_WIDTH]) t.ok(FORMAT_CHARACTERS.includes(code), hex(code))
})

t.test('a device label with a bidirectional override is refused with 400', async (t) => {
  const { app } = await buildTestApp(t)
  const device = 'evil\u202Egnp.exe'
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: PASSWORD, device } })
  t.equal(registered.statusCode, 400, 'register')
  t.match(registered.json(), { statusCode: 400, error: 'Bad Request', message: /device/ })
  const { user } = await register(app)
  const loggedIn = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, device } })
  t.equal(loggedIn.statusCode, 400, 'login')
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, device: 'evil.exe' } })).statusCode,
    200, 'the same label without it is fine')
})

t.test('every format character, line and paragraph separator is refused in a device label', async (t) => {
  const { app } = await buildTestApp(t)
  const accepted: string[] = []
  for (const code of [...FORMAT_CHARACTERS, ...SEPARATORS]) {
    const device = `Pixel${String.fromCodePoint(code)}8`
    const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: PASSWORD, device } })
    if (response.statusCode !== 400) accepted.push(`${hex(code)}: ${response.statusCode}`)
  }
  t.same(accepted, [], `${FORMAT_CHARACTERS.length + SEPARATORS.length} characters refused`)
  const emoji = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: PASSWORD, device: 'Zoë’s 📱 (work)' } })
  t.equal(emoji.statusCode, 201, 'accents, punctuation and emoji are still fine')
})

t.test('usernames: no format character is a letter or digit, and the invisible Hangul fillers are refused', async (t) => {
  const { app } = await buildTestApp(t)
  const fillers = codePointsOf(/^(?=\p{Default_Ignorable_Code_Point})[\p{L}\p{N}]$/u)
  t.same(fillers.map(hex), ['U+115F', 'U+1160', 'U+3164', 'U+FFA0'], 'the letters that print as nothing')
  const accepted: string[] = []
  for (const code of [...FORMAT_CHARACTERS, ...SEPARATORS, ...fillers]) {
    const username = `admin${String.fromCodePoint(code)}${code}`
    const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
    if (response.statusCode !== 400) accepted.push(`${hex(code)}: ${response.statusCode}`)
  }
  t.same(accepted, [], 'all refused')
  const korean = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: `한국어_${process.pid}`, password: PASSWORD } })
  t.equal(korean.statusCode, 201, 'Hangul syllables are letters like any other')
})

t.test('a User-Agent holding U+202E does not put it in the derived label', async (t) => {
  for (const userAgent of ['curl\u202E/8.5.0', '\u202Ecurl/8.5.0', 'Mozilla/5.0 (Windows\u202E) Firefox/128', 'okhttp\u200B/4.12', '\u2066\u2069']) {
    const label = deviceFromUserAgent(userAgent)
    t.notMatch(label, /[\p{Cc}\p{Cf}]/u, `${shown(userAgent)} -> ${shown(label)}`)
    t.ok(label.length > 0)
  }

  // Over a real socket, the header arrives as bytes: the UTF-8 encoding of U+202E, read as Latin-1.
  const { app } = await buildTestApp(t)
  const { user } = await register(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const userAgent = Buffer.from('evil\u202Egnp.exe/1.0 curl\u202E/8', 'utf8').toString('latin1')
  const body = JSON.stringify({ username: user.username, password: PASSWORD })
  const token = await new Promise<string>((resolve, reject) => {
    const request = httpRequest({
      port, method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/json', 'user-agent': userAgent }
    }, (response) => {
      let text = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => {
        if (response.statusCode === 200) resolve((JSON.parse(text) as { token: string }).token)
        else reject(new Error(`login: ${response.statusCode} ${text}`))
      })
    })
    request.on('error', reject).end(body)
  })
  const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })).json<Array<{ device: string, current: boolean }>>()
  const label = sessions.find((session) => session.current)?.device ?? ''
  t.notMatch(label, /[\p{Cc}\p{Cf}\u0080-\u009f]/u, `stored label: ${shown(label)}`)
})
