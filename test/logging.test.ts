import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp, loggerOptions } from '../src/app.js'
import { loadConfig, type LogLevel } from '../src/config.js'
import { PASSWORD, auth, freshDatabaseUrl, type TestContext } from './helpers/app.js'

interface LogLine { level: number, msg: string, reqId?: string, [key: string]: unknown }

/** The real service app, logging through its real logger options into memory. */
async function appWithLog (t: TestContext, level: LogLevel) {
  const { url } = freshDatabaseUrl(t)
  const config = loadConfig({ DATABASE_URL: url, TESSERA_LOGIN_RATE_LIMIT: 'off', TESSERA_SWEEP_INTERVAL: 'none', LOG_LEVEL: level })
  let text = ''
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8')
      callback()
    }
  })
  const app = await buildApp(config, { logger: { ...loggerOptions(config), stream } })
  t.teardown(() => app.close())
  return {
    app,
    log: () => text,
    lines: () => text.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as LogLine)
  }
}

t.test('logging in and using the token writes no secret to the log, even at trace level', async (t) => {
  const { app, log, lines } = await appWithLog(t, 'trace')
  // A handler that logs everything it was sent, as careless code might.
  app.post('/careless', async (request) => {
    request.log.info({ headers: request.headers, body: request.body }, 'everything the client sent')
    request.log.info(request.body as object, 'the body itself')
    request.log.info({ req: { headers: request.headers } }, 'headers under req')
    return { ok: true }
  })

  const newPassword = 'another secret phrase'
  const wrongPassword = 'not my password at all'
  const basic = Buffer.from(`alice:${PASSWORD}`).toString('base64')
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'alice', password: PASSWORD } })
  t.equal(registered.statusCode, 201)
  const loggedIn = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: PASSWORD } })
  t.equal(loggedIn.statusCode, 200)
  const token: string = loggedIn.json().token
  const basicLogin = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: `Basic ${basic}` } })
  t.equal(basicLogin.statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: wrongPassword } })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })).statusCode, 200)
  const forged = `${token.slice(0, -1)}X`
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(forged) })).statusCode, 401)
  t.equal((await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(token), payload: { currentPassword: PASSWORD, newPassword }
  })).statusCode, 204)
  t.equal((await app.inject({
    method: 'POST',
    url: '/careless',
    headers: { ...auth(token), cookie: `session=${token}`, 'proxy-authorization': `Basic ${basic}` },
    payload: { password: PASSWORD, currentPassword: wrongPassword, newPassword, token }
  })).statusCode, 200)

  const secrets = {
    password: PASSWORD,
    newPassword,
    wrongPassword,
    basic,
    token,
    registeredToken: registered.json().token as string,
    basicToken: basicLogin.json().token as string,
    forged
  }
  const text = log()
  for (const [name, secret] of Object.entries(secrets)) t.notOk(text.includes(secret), `the log holds no ${name}`)
  t.notMatch(text, /tsr_[0-9A-Za-z]{20}/, 'nothing that looks like a token')

  const all = lines()
  const completed = all.filter((line) => line.msg === 'request completed')
  t.equal(completed.length, 9, 'one completed line per request')
  t.same(completed.map((line) => `${String(line.method)} ${String(line.route)} ${String(line.statusCode)}`), [
    'POST /auth/register 201', 'POST /auth/login 200', 'POST /auth/login 200', 'POST /auth/login 401', 'GET /auth/me 200',
    'GET /auth/tokens 200', 'GET /auth/me 401', 'POST /auth/password 204', 'POST /careless 200'
  ], 'each with its method, route and status')
  t.equal(all.filter((line) => line.msg === 'incoming request').length, 9, "and, at debug and below, Fastify's incoming line")
  const careless = all.filter((line) => line.msg === 'everything the client sent')[0]
  t.match(careless, {
    headers: { authorization: '[Redacted]', cookie: '[Redacted]', 'proxy-authorization': '[Redacted]' },
    body: { password: '[Redacted]', currentPassword: '[Redacted]', newPassword: '[Redacted]', token: '[Redacted]' }
  }, 'what a handler logs is redacted, and shows that it was')
  t.match(all.find((line) => line.msg === 'the body itself'), { password: '[Redacted]', token: '[Redacted]' })
  const underReq = all.find((line) => line.msg === 'headers under req') as { req: Record<string, unknown> } | undefined
  t.ok(underReq !== undefined && !('headers' in underReq.req), "under `req`, Fastify's serializer keeps no headers at all")
})

t.test('every log line of a request carries its id, which the response echoes', async (t) => {
  const { app, lines } = await appWithLog(t, 'info')
  const plain = await app.inject({ method: 'GET', url: '/healthz' })
  const generated = plain.headers['x-request-id'] as string
  t.match(generated, /^[0-9a-f-]{36}$/, 'a fresh UUID')
  const given = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'upstream-42.a:b' } })
  t.equal(given.headers['x-request-id'], 'upstream-42.a:b', "a sane caller's id is kept")
  const hostile = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'x'.repeat(129) } })
  t.match(hostile.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an oversized one is replaced')
  const injected = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\u0000' } })
  t.match(injected.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'one with odd characters is replaced')

  const byId = (id: string): LogLine[] => lines().filter((line) => line.reqId === id)
  t.same(byId(generated).map((line) => line.msg), ['request completed'], 'one line per request at info')
  t.same(byId('upstream-42.a:b').map((line) => line.msg), ['request completed'])
  const line = byId(generated)[0]!
  t.match(line, { level: 30, method: 'GET', route: '/healthz', statusCode: 200, responseTime: Number })
  t.same(Object.keys(line).sort(), ['hostname', 'level', 'method', 'msg', 'pid', 'reqId', 'responseTime', 'route', 'statusCode', 'time'],
    'nothing else: no headers, no body, no URL')
})

t.test('the completed line names the route, never the URL with its query string', async (t) => {
  const { app, log, lines } = await appWithLog(t, 'info')
  const secret = 'tsr_aaaaaaaaaaaaaaaaaaaaaaaa'
  t.equal((await app.inject({ method: 'GET', url: `/auth/me?token=${secret}` })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: `/nowhere/${secret}` })).statusCode, 404)
  t.notOk(log().includes(secret))
  t.match(lines().filter((line) => line.msg === 'request completed'), [
    { route: '/auth/me', statusCode: 401 },
    { route: null, statusCode: 404 }
  ])
})

t.test('a handler logging through request.log gets the request id and redaction', async (t) => {
  const { app, lines } = await appWithLog(t, 'info')
  app.get('/chatty', async (request) => {
    request.log.info({ token: 'tsr_secret', headers: { authorization: 'Token tsr_secret' } }, 'chatty')
    return { ok: true }
  })
  const response = await app.inject({ method: 'GET', url: '/chatty', headers: { 'x-request-id': 'chatty-1' } })
  t.equal(response.statusCode, 200)
  t.match(lines().find((line) => line.msg === 'chatty'), { reqId: 'chatty-1', token: '[Redacted]', headers: { authorization: '[Redacted]' } })
  t.match(lines().find((line) => line.msg === 'request completed'), { reqId: 'chatty-1', route: '/chatty' })
})

t.test('LOG_LEVEL sets the level', async (t) => {
  const { app, lines } = await appWithLog(t, 'warn')
  await app.inject({ method: 'GET', url: '/healthz' })
  await app.inject({ method: 'GET', url: '/auth/me' })
  t.same(lines(), [], 'no info lines at warn')
  t.equal(loggerOptions(loadConfig({ LOG_LEVEL: 'debug' })).level, 'debug')
  t.equal(loggerOptions(loadConfig({})).level, 'info', 'info by default')
})
