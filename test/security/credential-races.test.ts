/**
 * A password change (or a deactivation) that has answered leaves no token alive that was issued
 * on the strength of the old password, whatever the interleaving with logins (audit item 3); of
 * two concurrent password changes exactly one wins (audit item 4).
 */
import t from 'tap'
import { PASSWORD, auth, buildTestApp, me, register, uniqueName } from '../helpers/app.js'

const NEW_PASSWORD = 'a brand new passphrase'

t.test('a login verified before a password change commits gets no live token', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName('race')
  const { token } = await register(app, username)
  const builtin = app.tessera.builtinUsers!
  // The login's password check is done…
  const verified = await builtin.verifyCredentials(username, PASSWORD)
  t.ok(verified)
  // …then the change commits and answers…
  const changed = await app.inject({ method: 'POST', url: '/auth/password', headers: auth(token), payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } })
  t.equal(changed.statusCode, 204)
  // …and the login's token must not come to life.
  await t.rejects(builtin.logIn(verified!, { device: 'late login' }), { name: 'CredentialsChangedError' })
  t.same((await app.tessera.tokens.list(String(verified!.id))).map((session) => session.device), ['lightMyRequest'], 'only the changing session is left')
})

t.test('a login verified before a deactivation commits gets no token', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName('race')
  await register(app, username)
  const builtin = app.tessera.builtinUsers!
  const verified = await builtin.verifyCredentials(username, PASSWORD)
  t.ok(await builtin.deactivate(verified!.id))
  // The password was right: the login is told the user is inactive (USER_INACTIVE), with no token.
  await t.rejects(builtin.logIn(verified!, { device: 'late login' }), { name: 'AuthenticationError', failure: 'inactive' })
  t.same(await app.tessera.tokens.list(String(verified!.id)), [], 'no token: the deactivation revoked the first, the login made none')
})

t.test('logins racing a password change over HTTP: once the change answered, every old-password token is dead', async (t) => {
  const { app } = await buildTestApp(t)
  for (let round = 0; round < 6; round++) {
    const username = uniqueName('race')
    const { token } = await register(app, username)
    const logins = Array.from({ length: 6 }, async () =>
      await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD, device: 'racing' } }))
    const change = app.inject({ method: 'POST', url: '/auth/password', headers: auth(token), payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } })
    const [changed, ...answers] = await Promise.all([change, ...logins])
    t.equal(changed!.statusCode, 204, `round ${round}: the change answered`)
    for (const answer of answers) {
      t.ok([200, 401].includes(answer.statusCode), `round ${round}: login answered ${answer.statusCode}`)
      if (answer.statusCode === 200) t.equal((await me(app, answer.json().token)).statusCode, 401, `round ${round}: an old-password token is dead`)
    }
    t.equal((await me(app, token)).statusCode, 200, `round ${round}: the changing session lives`)
  }
})

t.test('two concurrent password changes: exactly one wins, its session lives, the other is refused and revoked', async (t) => {
  const { app } = await buildTestApp(t)
  for (let round = 0; round < 4; round++) {
    const username = uniqueName('twice')
    const first = await register(app, username)
    const second = (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).json()
    const [a, b] = await Promise.all([
      app.inject({ method: 'POST', url: '/auth/password', headers: auth(first.token), payload: { currentPassword: PASSWORD, newPassword: 'first new passphrase' } }),
      app.inject({ method: 'POST', url: '/auth/password', headers: auth(second.token), payload: { currentPassword: PASSWORD, newPassword: 'second new passphrase' } })
    ])
    const codes = [a!.statusCode, b!.statusCode].sort()
    t.same(codes, [204, 403], `round ${round}: one 204, one 403`)
    const [winner, loser, winnerPassword, loserPassword] = a!.statusCode === 204
      ? [first, second, 'first new passphrase', 'second new passphrase']
      : [second, first, 'second new passphrase', 'first new passphrase']
    t.equal((await me(app, winner.token)).statusCode, 200, 'the winning session lives')
    t.equal((await me(app, loser.token)).statusCode, 401, 'the losing session was revoked by the winning change')
    t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: winnerPassword } })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: loserPassword } })).statusCode, 401)
  }
})
