/**
 * Inputs that the two databases would treat differently get the same answer on both: PostgreSQL
 * refuses U+0000 in any text value (SQLite stores it), and instants come back as the same
 * ISO-8601 UTC strings whichever database stored them.
 */
import t from 'tap'
import { PASSWORD, auth, buildTestApp, login, me, register } from '../helpers/app.js'

t.test('a username holding U+0000 cannot log in (401), in the body or as HTTP Basic', async (t) => {
  const { app } = await buildTestApp(t)
  await register(app, 'nul')
  const body = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nul\u0000', password: PASSWORD } })
  t.equal(body.statusCode, 401)
  const basic = Buffer.from(`nul\u0000:${PASSWORD}`).toString('base64')
  const header = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: `Basic ${basic}` } })
  t.equal(header.statusCode, 401)
})

t.test('a device label with a control character is refused (400) and issues no token', async (t) => {
  const { app } = await buildTestApp(t)
  const { user, token } = await register(app)
  for (const device of ['pho\u0000ne', 'line\nbreak', 'esc\u001b[31m', 'del\u007f']) {
    const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, device } })
    t.equal(response.statusCode, 400, JSON.stringify(device))
  }
  const sessions = await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })
  t.equal(sessions.json().length, 1, 'only the registration token exists')
  const named = await login(app, user.username, PASSWORD, 'Pixel 8 — José’s 📱')
  const listed = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(token) })).json()
  t.equal(listed.find((session: { id: string }) => session.id === named.tokenId).device, 'Pixel 8 — José’s 📱',
    'any printable Unicode is a fine label, stored and shown as given')
})

t.test('instants are stored as UTC epoch milliseconds and shown as the same ISO strings', async (t) => {
  const { app } = await buildTestApp(t)
  const before = Date.now()
  const issued = await register(app)
  const row = await app.tessera.database.kysely
    .selectFrom('tessera_tokens').select(['created_at', 'expires_at']).where('id', '=', issued.tokenId).executeTakeFirstOrThrow()
  t.type(row.created_at, 'number', 'bigint columns come back as numbers')
  t.ok(row.created_at >= before && row.created_at <= Date.now())
  t.equal(new Date(row.expires_at!).toISOString(), issued.expiry)
  const [session] = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(issued.token) })).json()
  t.equal(session.createdAt, new Date(row.created_at).toISOString())
  t.match(session.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.equal((await me(app, issued.token)).json().user.createdAt, issued.user.createdAt)
})
