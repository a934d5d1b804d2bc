import SQLite from 'better-sqlite3'
import Fastify from 'fastify'
import t from 'tap'
import tessera, { openDatabase } from '../../src/index.js'
import { TokenFormat } from '../../src/tokens/format.js'
import { PASSWORD, auth, freshDatabaseUrl, uniqueName } from '../helpers/app.js'

t.test('a database locked past the busy timeout is a 503, and the service recovers by itself', async (t) => {
  const { url, sqlitePath } = freshDatabaseUrl(t)
  if (sqlitePath === undefined) return t.pass('SQLite locking only')
  const app = Fastify()
  t.teardown(() => app.close())
  const database = openDatabase(url, { busyTimeoutMs: 100 })
  t.teardown(() => database.close())
  await app.register(tessera, { database, loginRateLimit: null })
  const username = uniqueName()
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
  const { token } = registered.json()

  const other = new SQLite(sqlitePath)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE') // another process holds the write lock

  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })
  t.equal(login.statusCode, 503)
  t.same(login.json(), {
    statusCode: 503, error: 'Service Unavailable', message: 'The database is not available right now; try again shortly.', code: 'DATABASE_UNAVAILABLE'
  })
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })
  t.equal(logout.statusCode, 503, 'a revocation that cannot be written says so')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).statusCode, 200, 'reads go on (WAL)')

  other.exec('ROLLBACK')
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode, 200, 'recovered')
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).statusCode, 401, 'nothing was lost: the logout took')
})

t.test('a protected host route answers 503 when the database is gone', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const app = Fastify()
  t.teardown(() => app.close())
  const database = openDatabase(url)
  await app.register(tessera, { database, loginRateLimit: null })
  app.get('/orders', { preHandler: app.authenticate }, async () => ({ orders: [] }))
  const { token } = (await app.inject({ method: 'POST', url: '/auth/register', payload: { username: uniqueName(), password: PASSWORD } })).json()
  await database.close()
  const response = await app.inject({ method: 'GET', url: '/orders', headers: auth(token) })
  t.equal(response.statusCode, 503)
  t.equal(response.json().error, 'Service Unavailable')
  t.equal(response.json().code, 'DATABASE_UNAVAILABLE', "with the code, through Fastify's own error handler")
  const own = await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })
  t.same(own.json(), {
    statusCode: 503, error: 'Service Unavailable', message: 'The database is not available right now; try again shortly.', code: 'DATABASE_UNAVAILABLE'
  }, "tessera's own routes")
  const revoked = await app.inject({ method: 'GET', url: '/auth/me', headers: auth(new TokenFormat('tsr_').generate()) })
  t.equal(revoked.json().code, 'DATABASE_UNAVAILABLE', 'the tombstone lookup of a token that is not live too')
})
