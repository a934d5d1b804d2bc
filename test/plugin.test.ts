import Fastify from 'fastify'
import t from 'tap'
import tessera from '../src/index.js'
import { PASSWORD, auth, freshDatabaseUrl, uniqueName } from './helpers/app.js'

t.test('another app registers tessera and protects its own route with app.authenticate', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const { url } = freshDatabaseUrl(t)
  await app.register(tessera, { databaseUrl: url, loginRateLimit: null })

  const orders = new Map<number, string[]>()
  app.get('/orders', { preHandler: app.authenticate }, async (request) => {
    const user = request.user!
    return { owner: user.username, orders: orders.get(user.id) ?? [] }
  })
  app.get('/public', async (request) => ({ user: request.user }))

  const username = uniqueName('shop')
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
  t.equal(registered.statusCode, 201)
  const { token, user } = registered.json()
  orders.set(user.id, ['#1', '#2'])

  const ok = await app.inject({ method: 'GET', url: '/orders', headers: auth(token) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { owner: username, orders: ['#1', '#2'] })

  const refused = await app.inject({ method: 'GET', url: '/orders' })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], 'Token')
  t.same(Object.keys(refused.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(refused.json().code, 'TOKEN_MISSING')

  t.same((await app.inject({ method: 'GET', url: '/public' })).json(), { user: null }, 'request.user is null where authenticate did not run')

  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })
  t.equal((await app.inject({ method: 'GET', url: '/orders', headers: auth(token) })).statusCode, 401, 'logout is honoured by the host route')
})

t.test('the plugin refuses bad options clearly', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(tessera, { databaseUrl: url, tokenTtl: -5 }).ready() }, /tokenTtl must be a positive/)
  const bare = Fastify()
  t.teardown(() => bare.close())
  await t.rejects(async () => { await bare.register(tessera, {}).ready() }, /pass `database` or `databaseUrl`/)
})

t.test('the host app keeps its own validation settings; tessera stays strict', async (t) => {
  const app = Fastify({ ajv: { customOptions: { coerceTypes: true } } })
  t.teardown(() => app.close())
  const { url } = freshDatabaseUrl(t)
  await app.register(tessera, { databaseUrl: url, routePrefix: '/api/auth' })
  const response = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 12345678, password: PASSWORD } })
  t.equal(response.statusCode, 400, 'a number is not coerced into a username')
})
