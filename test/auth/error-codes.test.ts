/**
 * Every error body carries `code` next to `statusCode`, `error` and `message`: each code through
 * HTTP (the token codes are in authenticate.test.ts and reasons.test.ts), Fastify's own errors
 * mapped to tessera's codes (never an `FST_ERR_*`), and routes that take no body accepting an
 * empty JSON one.
 */
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { ERROR_CODES } from '../../src/error-codes.js'
import { AUTH_FAILURES } from '../../src/tokens/failures.js'
import { PASSWORD, auth, buildTestApp, register, uniqueName } from '../helpers/app.js'

/** Sends a request; checks the error shape and returns its code. */
async function codeOf (t: Test, app: FastifyInstance, request: InjectOptions, status: number, name: string): Promise<string> {
  const response = await app.inject(request)
  t.equal(response.statusCode, status, `${name}: ${status}`)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${name}: the error shape`)
  t.equal(body.statusCode, status)
  t.ok(Object.hasOwn(ERROR_CODES, body.code), `${name}: ${String(body.code)} is one of tessera's codes`)
  return body.code
}

t.test('each refusal of tessera\'s routes has its code', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 2 })
  const username = uniqueName()
  const owner = await register(app, username)
  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, InjectOptions, number, string]> = [
    ['wrong password', { method: 'POST', url: '/auth/login', payload: { username, password: 'not the password' } }, 401, 'BAD_CREDENTIALS'],
    ['unknown user', { method: 'POST', url: '/auth/login', payload: { username: uniqueName(), password: 'not the password' } }, 401, 'BAD_CREDENTIALS'],
    ['login without credentials', { method: 'POST', url: '/auth/login' }, 401, 'BAD_CREDENTIALS'],
    ['wrong current password', {
      method: 'POST', url: '/auth/password', headers: auth(owner.token), payload: { currentPassword: 'not the password', newPassword: 'another password' }
    }, 403, 'BAD_CREDENTIALS'],
    ['taken username', { method: 'POST', url: '/auth/register', payload: { username: username.toUpperCase(), password: PASSWORD } }, 409, 'USERNAME_TAKEN'],
    ['short password', { method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: 'short' } }, 400, 'VALIDATION_FAILED'],
    ['half a login', { method: 'POST', url: '/auth/login', payload: { username } }, 400, 'VALIDATION_FAILED'],
    ['invalid JSON', { method: 'POST', url: '/auth/login', headers: json, payload: '{"username": ' }, 400, 'VALIDATION_FAILED'],
    ['empty JSON body on login', { method: 'POST', url: '/auth/login', headers: json, payload: '' }, 400, 'VALIDATION_FAILED'],
    ['empty JSON body on register', { method: 'POST', url: '/auth/register', headers: json, payload: '' }, 400, 'VALIDATION_FAILED'],
    ['malformed session id', { method: 'DELETE', url: '/auth/tokens/not-a-uuid', headers: auth(owner.token) }, 400, 'VALIDATION_FAILED'],
    ['bad ttl', { method: 'POST', url: '/auth/tokens', headers: auth(owner.token), payload: { device: 'ci', scopes: ['*'], ttl: '0s' } }, 400, 'VALIDATION_FAILED'],
    ['a body over 16 KiB', { method: 'POST', url: '/auth/login', payload: { username, password: 'x'.repeat(64 * 1024) } }, 413, 'PAYLOAD_TOO_LARGE'],
    ['text/plain', { method: 'POST', url: '/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'username=a' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['an invalid media type', { method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/' }, payload: '{}' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['no such session', { method: 'DELETE', url: '/auth/tokens/00000000-0000-4000-8000-000000000000', headers: auth(owner.token) }, 404, 'NOT_FOUND'],
    ['no such route under /auth', { method: 'GET', url: '/auth/nowhere?token=x' }, 404, 'NOT_FOUND'],
    ['a route with another method', { method: 'GET', url: '/auth/logout' }, 404, 'NOT_FOUND'],
    ['no such route', { method: 'GET', url: '/nowhere' }, 404, 'NOT_FOUND'],
    ['no token', { method: 'GET', url: '/auth/me' }, 401, 'TOKEN_MISSING'],
    ['not a token', { method: 'GET', url: '/auth/me', headers: auth('not-a-token') }, 401, 'TOKEN_MALFORMED']
  ]
  for (const [name, request, status, code] of cases) t.equal(await codeOf(t, app, request, status, name), code, name)

  const narrow = (await app.inject({
    method: 'POST', url: '/auth/tokens', headers: auth(owner.token), payload: { device: 'script', scopes: ['orders'] }
  })).json()
  t.equal(await codeOf(t, app, { method: 'GET', url: '/auth/tokens', headers: auth(narrow.token) }, 403, 'lacking a scope'), 'INSUFFICIENT_SCOPE')
  const granting = { method: 'POST', url: '/auth/tokens', headers: auth(narrow.token), payload: { device: 'more', scopes: ['admin'] } } as const
  t.equal(await codeOf(t, app, granting, 403, 'granting a scope it lacks'), 'INSUFFICIENT_SCOPE')
})

t.test('USER_INACTIVE: the right password of a deactivated user; a wrong one stays BAD_CREDENTIALS', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const { user } = await register(app, username)
  await app.tessera.builtinUsers!.deactivate(user.id)
  const right = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })
  t.equal(right.statusCode, 401)
  t.same(right.json(), { statusCode: 401, error: 'Unauthorized', message: AUTH_FAILURES.inactive, code: 'USER_INACTIVE' })
  t.equal(right.headers['www-authenticate'], 'Basic realm="tessera", charset="UTF-8"')
  const basic = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString('base64')}` } })
  t.equal(basic.json().code, 'USER_INACTIVE', 'with HTTP Basic too')
  const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: 'not the password' } })
  t.same(wrong.json(), { statusCode: 401, error: 'Unauthorized', message: 'Unable to log in with the provided credentials.', code: 'BAD_CREDENTIALS' })
})

t.test('TOKEN_LIMIT_REACHED, REGISTRATION_CLOSED, RATE_LIMITED', async (t) => {
  const limited = (await buildTestApp(t, { tokenLimitPerUser: 1 }, { TESSERA_LOGIN_RATE_LIMIT: '2/1m' })).app
  const username = uniqueName()
  await register(limited, username)
  const login = { method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } } as const
  t.equal(await codeOf(t, limited, login, 403, 'a second token'), 'TOKEN_LIMIT_REACHED')
  t.equal(await codeOf(t, limited, login, 403, 'a third'), 'TOKEN_LIMIT_REACHED')
  t.equal(await codeOf(t, limited, login, 429, 'past the login rate'), 'RATE_LIMITED')

  const closed = (await buildTestApp(t, {}, { TESSERA_REGISTRATION: 'closed' })).app
  t.equal(await codeOf(t, closed, { method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: PASSWORD } }, 403, 'closed'),
    'REGISTRATION_CLOSED')
})

t.test('routes that take no body accept an empty JSON body, as knox does', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const first = await register(app, username)
  const empty = { 'content-type': 'application/json' }
  const post = async (url: string, token: string): Promise<number> =>
    (await app.inject({ method: 'POST', url, headers: { ...empty, ...auth(token) }, payload: '' })).statusCode
  const second = (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).json()
  t.equal(await post('/auth/logoutothers', first.token), 204, 'logoutothers')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(second.token) })).json().code, 'TOKEN_REVOKED')
  const third = (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).json()
  const revoked = await app.inject({ method: 'DELETE', url: `/auth/tokens/${third.tokenId}`, headers: { ...empty, ...auth(first.token) }, payload: '' })
  t.equal(revoked.statusCode, 204, 'DELETE /auth/tokens/:id')
  const fourth = (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).json()
  t.equal(await post('/auth/logout', fourth.token), 204, 'logout')
  t.equal(await post('/auth/logoutall', first.token), 204, 'logoutall')
  for (const token of [first.token, fourth.token]) t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).statusCode, 401)

  // Over real HTTP, as a phone's HTTP client sends it: `Content-Length: 0`.
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const fifth = (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).json()
  const response = await fetch(`${base}/auth/logout`, { method: 'POST', headers: { ...empty, ...auth(fifth.token) }, body: '' })
  t.equal(response.status, 204, 'over HTTP')
  const sixth = (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).json()
  const notJson = await fetch(`${base}/auth/logout`, { method: 'POST', headers: { ...empty, ...auth(sixth.token) }, body: '{' })
  t.equal(notJson.status, 400, 'a body that is there is still read as JSON')
  t.equal((await notJson.json() as { code: string }).code, 'VALIDATION_FAILED')
})
