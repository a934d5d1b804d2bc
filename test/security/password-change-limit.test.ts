/**
 * A wrong current password on `POST /auth/password` is a password guess like a failed login
 * (audit item 6): it counts against the same per-username limit, so a stolen token cannot be used
 * to guess the password faster than a login could.
 */
import t from 'tap'
import { PASSWORD, auth, buildTestApp, register } from '../helpers/app.js'

const NEW_PASSWORD = 'a brand new passphrase'

t.test('wrong current passwords use up the per-username login budget', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '3/1m' })
  const issued = await register(app)
  const change = async (currentPassword: string) => await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(issued.token), payload: { currentPassword, newPassword: NEW_PASSWORD }
  })

  const codes = []
  for (let i = 0; i < 3; i++) codes.push((await change(`wrong guess ${i}`)).statusCode)
  t.same(codes, [403, 403, 403], 'three wrong current passwords')

  const fourth = await change(PASSWORD)
  t.equal(fourth.statusCode, 429, 'the fourth attempt is refused, even with the right password')
  t.same(fourth.json(), { statusCode: 429, error: 'Too Many Requests', message: fourth.json().message, code: 'RATE_LIMITED' })
  t.match(fourth.json().message, /^Too many login attempts for this username: retry in \d+ s\.$/)
  const retryAfter = Number(fourth.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`)

  const loginWithUsername = (username: string) => app.inject({
    method: 'POST', url: '/auth/login', remoteAddress: '10.5.0.1', payload: { username, password: PASSWORD }
  })
  t.equal((await loginWithUsername(issued.user.username)).statusCode, 429, 'a login for that username is refused too')
  t.equal((await loginWithUsername(issued.user.username.toUpperCase())).statusCode, 429, 'whatever its case')

  const other = await register(app)
  t.equal((await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(other.token), payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }
  })).statusCode, 204, "another user's budget is their own")
})

t.test('failed logins use up the budget of a password change', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_LOGIN_RATE_LIMIT: '2/1m' })
  const issued = await register(app)
  for (let i = 0; i < 2; i++) {
    await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: `10.6.0.${i}`, payload: { username: issued.user.username, password: 'wrong password' } })
  }
  const change = await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(issued.token), payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }
  })
  t.equal(change.statusCode, 429)
})
