import t from 'tap'
import { auth, buildTestApp, login, me, register, uniqueName } from '../helpers/app.js'

t.test('three devices, three working tokens; logging out one leaves the other two', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  await register(app, username)
  const phone = await login(app, username, undefined, 'phone')
  const laptop = await login(app, username, undefined, 'laptop')
  const tablet = await login(app, username, undefined, 'tablet')
  for (const issued of [phone, laptop, tablet]) t.equal((await me(app, issued.token)).statusCode, 200)

  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(phone.token) })
  t.equal(logout.statusCode, 204)
  t.equal(logout.body, '')
  t.equal((await me(app, phone.token)).statusCode, 401, 'the phone is dead at once')
  t.equal((await me(app, laptop.token)).statusCode, 200)
  t.equal((await me(app, tablet.token)).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(phone.token) })).statusCode, 401, 'a dead token cannot log out again')
})

t.test("logout-all kills every token of that user and no one else's", async (t) => {
  const { app } = await buildTestApp(t)
  const alice = uniqueName('alice')
  const first = await register(app, alice)
  const second = await login(app, alice)
  const bob = await register(app, uniqueName('bob'))

  const response = await app.inject({ method: 'POST', url: '/auth/logoutall', headers: auth(second.token) })
  t.equal(response.statusCode, 204)
  t.equal((await me(app, first.token)).statusCode, 401)
  t.equal((await me(app, second.token)).statusCode, 401)
  t.equal((await me(app, bob.token)).statusCode, 200, "another user's token lives")
  const left = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('subject').execute()
  t.same(left.map((row) => row.subject), [String(bob.user.id)])
  t.equal((await login(app, alice)).user.username, alice, 'the user can log in again')
})
