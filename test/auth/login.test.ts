import t from 'tap'
import { PASSWORD, auth, buildTestApp, login, me, register, uniqueName } from '../helpers/app.js'

const basic = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`

t.test('login with a JSON body returns a new working token for the device', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName('Dana')
  const registered = await register(app, username)
  const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD, device: 'Pixel 8' } })
  t.equal(response.statusCode, 200)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['expiry', 'scopes', 'token', 'tokenId', 'user'])
  t.same(body.user, registered.user)
  t.not(body.token, registered.token, 'a new token, not the registration one')
  t.not(body.tokenId, registered.tokenId)
  t.equal((await me(app, body.token)).statusCode, 200)
  const row = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('device').where('id', '=', body.tokenId).executeTakeFirstOrThrow()
  t.equal(row.device, 'Pixel 8', 'the device label is stored with the token')
})

t.test('login matches the username case-insensitively', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName('MiXeD')
  await register(app, username)
  t.equal((await login(app, username.toLowerCase())).user.username, username)
  t.equal((await login(app, username.toUpperCase())).user.username, username)
})

t.test('login with HTTP Basic credentials', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  await register(app, username)
  const ok = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: basic(username, PASSWORD) } })
  t.equal(ok.statusCode, 200)
  t.equal((await me(app, ok.json().token)).statusCode, 200)
  const wrong = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: basic(username, 'wrong password') } })
  t.equal(wrong.statusCode, 401)
  const garbage = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: 'Basic %%%not-base64' } })
  t.equal(garbage.statusCode, 401)
})

t.test('unknown user and wrong password get the same status and body', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  await register(app, username)
  const wrongPassword = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: 'not the password' } })
  const unknownUser = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: uniqueName('ghost'), password: 'not the password' } })
  t.equal(wrongPassword.statusCode, 401)
  t.equal(unknownUser.statusCode, 401)
  t.equal(wrongPassword.body, unknownUser.body)
  t.equal(wrongPassword.headers['www-authenticate'], unknownUser.headers['www-authenticate'])
  t.same(wrongPassword.json(), { statusCode: 401, error: 'Unauthorized', message: 'Unable to log in with the provided credentials.', code: 'BAD_CREDENTIALS' })
})

t.test('a deactivated user cannot log in: the right password is told USER_INACTIVE, a wrong one what any wrong one is', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const { user } = await register(app, username)
  const unknown = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: uniqueName('ghost'), password: 'wrong password' } })
  await app.tessera.database.kysely.updateTable('tessera_users').set({ deactivated_at: Date.now() }).where('id', '=', user.id).execute()
  const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })
  const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: 'wrong password' } })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'USER_INACTIVE')
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.body, unknown.body, 'a wrong password reveals nothing: the answer of an unknown user')
})

t.test('a token cannot log in: only primary credentials mint tokens', async (t) => {
  const { app } = await buildTestApp(t)
  const { token } = await register(app)
  for (const authorization of [`Token ${token}`, `Bearer ${token}`]) {
    const response = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization } })
    t.equal(response.statusCode, 401, authorization.slice(0, 6))
    t.match(response.json().message, /token cannot log in/)
  }
  const none = await app.inject({ method: 'POST', url: '/auth/login' })
  t.equal(none.statusCode, 401, 'no credentials at all')
})

t.test('malformed login bodies are 400, never 5xx', async (t) => {
  const { app } = await buildTestApp(t)
  const cases: Array<[string, string, string]> = [
    ['number username', 'application/json', JSON.stringify({ username: 5, password: PASSWORD })],
    ['only a username', 'application/json', JSON.stringify({ username: 'someone' })],
    ['not JSON', 'application/json', '{"username": '],
    ['JSON null', 'application/json', 'null'],
    ['an array', 'application/json', '[1,2,3]'],
    ['device too long', 'application/json', JSON.stringify({ username: 'a', password: PASSWORD, device: 'd'.repeat(129) })],
    ['deep nesting', 'application/json', '['.repeat(5000) + ']'.repeat(5000)]
  ]
  for (const [name, contentType, payload] of cases) {
    const response = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': contentType }, payload })
    t.equal(response.statusCode, 400, name)
    t.equal(response.json().statusCode, 400, `${name}: JSON error body`)
  }
  const form = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'username=a' })
  t.equal(form.statusCode, 415, 'an unsupported content type')
  const huge = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'a', password: 'x'.repeat(64 * 1024) } })
  t.equal(huge.statusCode, 413, 'a body over the limit')
  t.equal(huge.json().statusCode, 413)
})

t.test('each login adds a token; the response never carries a password hash', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const { user } = await register(app, username)
  const tokens = [await login(app, username), await login(app, username), await login(app, username)]
  t.equal(new Set(tokens.map((issued) => issued.token)).size, 3)
  for (const issued of tokens) {
    t.notMatch(JSON.stringify(issued), /argon2|password/i)
    t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(issued.token) })).json().user.id, user.id)
  }
})
