/**
 * `PATCH /auth/tokens/:id {device}`: the owner gives one of their sessions a label they recognise.
 */
import t from 'tap'
import { auth, buildTestApp, login, me, register, uniqueName } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

t.test('the owner renames a session: 200 with the session, as GET /auth/tokens shows it', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const phone = await register(app, username)
  const laptop = await login(app, username, undefined, 'ThinkPad')
  const renamed: Array<{ subject: string, tokenId: string, device: string }> = []
  app.tessera.events.on('sessionRenamed', (event) => renamed.push(event))

  const response = await app.inject({ method: 'PATCH', url: `/auth/tokens/${phone.tokenId}`, headers: auth(laptop.token), payload: { device: 'Work phone' } })
  t.equal(response.statusCode, 200)
  const session = response.json()
  const listed = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(laptop.token) })).json<Array<{ id: string }>>()
  t.same(session, listed.find((entry) => entry.id === phone.tokenId), 'the same shape and values as its entry in the list')
  t.match(session, { id: phone.tokenId, device: 'Work phone', current: false })
  t.same(renamed, [{ subject: String(phone.user.id), tokenId: phone.tokenId, device: 'Work phone' }], 'the sessionRenamed event')

  const own = await app.inject({ method: 'PATCH', url: `/auth/tokens/${laptop.tokenId}`, headers: auth(laptop.token), payload: { device: 'My laptop 🙂' } })
  t.equal(own.statusCode, 200)
  t.match(own.json(), { device: 'My laptop 🙂', current: true }, 'renaming the session making the request')
  t.equal((await me(app, laptop.token)).json().session.device, 'My laptop 🙂', 'the token in use carries its new name at once')
  t.equal((await me(app, phone.token)).statusCode, 200, 'a renamed session keeps working')

  const activity = await app.inject({ method: 'GET', url: '/auth/activity', remoteAddress: '198.51.100.9', headers: auth(laptop.token) })
  const renames = activity.json<{ events: Array<{ type: string }> }>().events.filter((event) => event.type === 'session_renamed')
  t.match(renames, [
    { tokenId: laptop.tokenId, device: 'My laptop 🙂', ip: '127.0.0.1', userAgent: 'lightMyRequest' },
    { tokenId: phone.tokenId, device: 'Work phone', ip: '127.0.0.1' }
  ], 'each rename is in the activity log, newest first')
})

t.test("another user's session, or an unknown one, is 404, and stays as it was", async (t) => {
  const { app } = await buildTestApp(t)
  const alice = await register(app, uniqueName('alice'))
  const mallory = await register(app, uniqueName('mallory'))
  const theirs = await app.inject({ method: 'PATCH', url: `/auth/tokens/${alice.tokenId}`, headers: auth(mallory.token), payload: { device: 'pwned' } })
  t.equal(theirs.statusCode, 404)
  t.same(theirs.json(), { statusCode: 404, error: 'Not Found', message: 'No such session.', code: 'NOT_FOUND' })
  const unknown = await app.inject({
    method: 'PATCH', url: '/auth/tokens/6f1c2a3e-0000-4000-8000-000000000000', headers: auth(mallory.token), payload: { device: 'pwned' }
  })
  t.equal(unknown.body, theirs.body, 'indistinguishable from an id that does not exist')
  t.equal((await me(app, alice.token)).json().session.device, 'lightMyRequest', "alice's session is untouched")

  const revoked = await login(app, alice.user.username)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(revoked.token) })).statusCode, 204)
  const gone = await app.inject({ method: 'PATCH', url: `/auth/tokens/${revoked.tokenId}`, headers: auth(alice.token), payload: { device: 'x' } })
  t.equal(gone.statusCode, 404, 'a revoked session')
})

t.test('an expired session is not renamed', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { clock: clock.now })
  const { user, token } = await register(app)
  const expired = await app.tessera.tokens.issue(user, { device: 'old', ttl: 60_000 })
  clock.advance(60_000)
  const response = await app.inject({ method: 'PATCH', url: `/auth/tokens/${expired.tokenId}`, headers: auth(token), payload: { device: 'new' } })
  t.equal(response.statusCode, 404)
  t.equal(await app.tessera.tokens.rename(expired.tokenId, 'new'), undefined, 'tokens.rename too')
})

t.test('a bad device is 400, with the same rules as a login\'s; a bad id is 400', async (t) => {
  const { app } = await buildTestApp(t)
  const { token, tokenId } = await register(app)
  const bad: unknown[] = ['', 'x'.repeat(129), 'evil\u202Egnp.exe', 'tab\there', 'nul\u0000', 42, null, ['a']]
  for (const device of bad) {
    const response = await app.inject({ method: 'PATCH', url: `/auth/tokens/${tokenId}`, headers: auth(token), payload: { device } })
    t.equal(response.statusCode, 400, JSON.stringify(device).slice(0, 30))
    t.match(response.json(), { statusCode: 400, error: 'Bad Request', message: String, code: 'VALIDATION_FAILED' })
  }
  const noBody = await app.inject({ method: 'PATCH', url: `/auth/tokens/${tokenId}`, headers: { ...auth(token), 'content-type': 'application/json' }, payload: '{}' })
  t.equal(noBody.statusCode, 400, 'device is required')
  const badId = await app.inject({ method: 'PATCH', url: '/auth/tokens/not-a-uuid', headers: auth(token), payload: { device: 'x' } })
  t.equal(badId.statusCode, 400)
  t.equal((await me(app, token)).json().session.device, 'lightMyRequest', 'nothing was renamed')
  t.equal((await app.inject({ method: 'PATCH', url: `/auth/tokens/${tokenId}`, headers: auth(token), payload: { device: 'x'.repeat(128) } })).statusCode, 200,
    '128 characters are fine')
  await t.rejects(app.tessera.tokens.rename(tokenId, ''), TypeError, 'tokens.rename checks the label too')
})

t.test('renaming needs the sessions scope, and a token', async (t) => {
  const { app } = await buildTestApp(t)
  const { token, tokenId } = await register(app)
  const minted = await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(token), payload: { device: 'reader', scopes: ['reports'] } })
  const narrow = minted.json().token as string
  const refused = await app.inject({ method: 'PATCH', url: `/auth/tokens/${tokenId}`, headers: auth(narrow), payload: { device: 'x' } })
  t.equal(refused.statusCode, 403)
  t.match(refused.headers['www-authenticate'], /insufficient_scope.*sessions/)
  const anonymous = await app.inject({ method: 'PATCH', url: `/auth/tokens/${tokenId}`, payload: { device: 'x' } })
  t.equal(anonymous.statusCode, 401)
})
