import t from 'tap'
import { PASSWORD, buildTestApp, me, register, uniqueName } from '../helpers/app.js'

t.test('register creates a user and hands out a working token', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject({
    method: 'POST', url: '/auth/register', payload: { username: 'Alice', password: PASSWORD, email: 'alice@example.com' }
  })
  t.equal(response.statusCode, 201)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['expiry', 'scopes', 'token', 'tokenId', 'user'])
  t.same(Object.keys(body.user).sort(), ['createdAt', 'email', 'id', 'username'])
  t.equal(body.user.username, 'Alice')
  t.equal(body.user.email, 'alice@example.com')
  t.type(body.user.id, 'number')
  t.equal(new Date(body.user.createdAt).toISOString(), body.user.createdAt, 'createdAt is ISO-8601 UTC')
  t.match(body.token, /^tsr_[0-9A-Za-z]{49}$/)
  t.match(body.tokenId, /^[0-9a-f-]{36}$/)
  t.equal(new Date(body.expiry).toISOString(), body.expiry)
  t.equal((await me(app, body.token)).statusCode, 200)
})

t.test('email is null when not given', async (t) => {
  const { app } = await buildTestApp(t)
  const issued = await register(app)
  t.equal(issued.user.email, null)
})

t.test('a taken username is 409, compared case-insensitively', async (t) => {
  const { app } = await buildTestApp(t)
  await register(app, 'Bob')
  for (const username of ['Bob', 'bob', 'BOB']) {
    const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
    t.equal(response.statusCode, 409, username)
    t.same(Object.keys(response.json()).sort(), ['code', 'error', 'message', 'statusCode'])
    t.equal(response.json().error, 'Conflict')
    t.equal(response.json().code, 'USERNAME_TAKEN')
  }
})

t.test('invalid bodies are 400 with a JSON error, and create nobody', async (t) => {
  const { app } = await buildTestApp(t)
  const cases: Array<[string, unknown]> = [
    ['no body fields', {}],
    ['missing password', { username: 'carol' }],
    ['short password', { username: 'carol', password: 'short' }],
    ['long password', { username: 'carol', password: 'x'.repeat(1025) }],
    ['number username (no coercion)', { username: 12345, password: PASSWORD }],
    ['number password (no coercion)', { username: 'carol', password: 123456789 }],
    ['empty username', { username: '', password: PASSWORD }],
    ['151-character username', { username: 'a'.repeat(151), password: PASSWORD }],
    ['username with a space', { username: 'carol smith', password: PASSWORD }],
    ['username with a slash', { username: 'carol/x', password: PASSWORD }],
    ['SQL-looking username', { username: "x' OR 1=1 --", password: PASSWORD }],
    ['null byte in username', { username: 'carol\u0000', password: PASSWORD }],
    ['bad email', { username: 'carol', password: PASSWORD, email: 'not-an-email' }],
    ['array body', [{ username: 'carol', password: PASSWORD }]]
  ]
  for (const [name, payload] of cases) {
    const response = await app.inject({ method: 'POST', url: '/auth/register', payload: payload as object })
    t.equal(response.statusCode, 400, name)
    t.equal(response.json().statusCode, 400, `${name}: JSON error body`)
    t.type(response.json().message, 'string')
  }
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'carol', password: PASSWORD } })
  t.equal(login.statusCode, 401, 'no user was created by any of them')
})

t.test('usernames of 150 characters and of every allowed symbol are accepted; unknown fields are ignored', async (t) => {
  const { app } = await buildTestApp(t)
  for (const username of ['a'.repeat(150), 'x@y.z+w-v_u', 'Zoë', '用户']) {
    const response = await app.inject({
      method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD, isAdmin: true, id: 99 }
    })
    t.equal(response.statusCode, 201, username)
    t.not(response.json().user.id, 99)
  }
})

t.test('closed registration answers 403 and creates nobody', async (t) => {
  const { app } = await buildTestApp(t, { registration: 'closed' })
  const username = uniqueName()
  const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
  t.equal(response.statusCode, 403)
  t.equal(response.json().error, 'Forbidden')
  t.match(response.json().message, /closed/i)
  const count = await app.tessera.database.kysely.selectFrom('tessera_users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  t.equal(Number(count.n), 0)
})
