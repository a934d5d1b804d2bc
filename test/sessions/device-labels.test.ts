/**
 * Device labels a person recognises: native apps' HTTP libraries (okhttp, Dart, CFNetwork/Darwin,
 * Alamofire) name the kind of app, with the app's own name and version when the User-Agent
 * carries them; browsers keep their "Safari on iPhone". An empty device in a login or a
 * registration counts as absent.
 */
import t from 'tap'
import { deviceFromUserAgent } from '../../src/http/device.js'
import { PASSWORD, auth, buildTestApp, register, uniqueName } from '../helpers/app.js'

const LABELS: Array<[userAgent: string, label: string]> = [
  ['okhttp/4.12.0', 'Android app'],
  ['okhttp/3.14.9', 'Android app'],
  ['MyApp/2.0.1 (Android 14; Pixel 8) okhttp/4.12.0', 'MyApp 2.0.1 (Android app)'],
  ['Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240805.005)', 'Android app'],
  ['Dart/3.2 (dart:io)', 'Flutter app'],
  ['Shop/3.1.0 Dart/3.3 (dart:io)', 'Shop 3.1.0 (Flutter app)'],
  ['MyApp/2.3.1 CFNetwork/1410.0.3 Darwin/22.6.0', 'MyApp 2.3.1 (iOS app)'],
  ['My%20App/7 CFNetwork/1494.0.7 Darwin/23.4.0', 'My App 7 (iOS app)'],
  ['CFNetwork/1410.0.3 Darwin/22.6.0', 'iOS app'],
  ['MyApp/1.0 (com.example; build:1; iOS 17.0) Alamofire/5.8.0', 'MyApp 1.0 (iOS app)'],
  ['Alamofire/5.8.0', 'iOS app'],
  // Browsers, web views and tools as before.
  ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari on iPhone'],
  ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36', 'Chrome on Android'],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari on macOS'],
  ['curl/8.5.0', 'curl 8.5.0'],
  ['python-requests/2.32.3', 'python-requests 2.32.3'],
  ['', 'unknown device']
]

t.test('labels derived from User-Agents', async (t) => {
  for (const [userAgent, label] of LABELS) t.equal(deviceFromUserAgent(userAgent), label, userAgent || '(empty)')
  t.equal(deviceFromUserAgent(undefined), 'unknown device')
  t.equal(deviceFromUserAgent('Evil\u202Egnp/1 okhttp/4.12.0'), 'Android app', 'a name with a format character is no app name')
  t.notMatch(deviceFromUserAgent('Ev%E2%80%AEil/1 CFNetwork/1 Darwin/2'), /\u202E/, 'nor once percent-decoded')
})

t.test('the same labels through a login, and through a registration', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const { token } = await register(app, username)
  for (const [userAgent, label] of LABELS.filter(([userAgent]) => userAgent !== '')) {
    const response = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'user-agent': userAgent }, payload: { username, password: PASSWORD } })
    t.equal(response.statusCode, 200)
    const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })).json<Array<{ id: string, device: string }>>()
    t.equal(sessions.find((session) => session.id === response.json().tokenId)?.device, label, userAgent)
  }
  const registered = await app.inject({
    method: 'POST', url: '/auth/register', headers: { 'user-agent': 'okhttp/4.12.0' }, payload: { username: uniqueName(), password: PASSWORD }
  })
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(registered.json().token) })).json().session.device, 'Android app')
})

t.test('an empty (or blank) device in a login or a registration is absent: the label comes from the User-Agent', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const ua = { 'user-agent': 'Dart/3.3 (dart:io)' }
  const registered = await app.inject({ method: 'POST', url: '/auth/register', headers: ua, payload: { username, password: PASSWORD, device: '' } })
  t.equal(registered.statusCode, 201, 'register: not a 400')
  const deviceOf = async (token: string): Promise<string> => (await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).json().session.device
  t.equal(await deviceOf(registered.json().token), 'Flutter app')
  for (const device of ['', '   ']) {
    const response = await app.inject({ method: 'POST', url: '/auth/login', headers: ua, payload: { username, password: PASSWORD, device } })
    t.equal(response.statusCode, 200, `login with ${JSON.stringify(device)}: not a 400`)
    t.equal(await deviceOf(response.json().token), 'Flutter app')
  }
  const basic = await app.inject({
    method: 'POST',
    url: '/auth/login',
    headers: { ...ua, authorization: `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString('base64')}` },
    payload: { device: '' }
  })
  t.equal(basic.statusCode, 200, 'HTTP Basic with an empty device')
  const named = await app.inject({ method: 'POST', url: '/auth/login', headers: ua, payload: { username, password: PASSWORD, device: 'Pixel 8' } })
  t.equal(await deviceOf(named.json().token), 'Pixel 8', 'a named device is kept as named')
  for (const device of ['x'.repeat(129), 'evil\u202Egnp.exe', 42]) {
    const refused = await app.inject({ method: 'POST', url: '/auth/login', headers: ua, payload: { username, password: PASSWORD, device } })
    t.equal(refused.statusCode, 400, `still refused: ${JSON.stringify(device).slice(0, 20)}`)
  }
})
