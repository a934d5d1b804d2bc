/**
 * The plugin's public types, with tessera's built-in users (no `TesseraTypes` declared): the
 * options `register` takes, and what the plugin adds to Fastify's instance and requests.
 */
import Fastify, { type FastifyPluginAsync, type FastifyRequest } from 'fastify'
import { describe, expect, test } from 'tstyche'
import tessera, {
  openDatabase, type AppUser, type AuthToken, type AuthenticateHook, type Tessera, type TesseraOptions, type TesseraUser,
  type UserStore
} from 'tessera-auth'

const app = Fastify()

describe('the plugin options', () => {
  test('the plugin registers with its options', () => {
    expect(tessera).type.toBeAssignableTo<FastifyPluginAsync<TesseraOptions>>()
    expect(app.register).type.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:' })
    expect(app.register).type.toBeCallableWith(tessera, { database: openDatabase('sqlite::memory:'), migrate: false })
    expect(app.register).type.toBeCallableWith(tessera, {
      databaseUrl: 'postgres://localhost/app',
      tokenTtl: 3_600_000,
      registration: 'closed',
      loginRateLimit: { max: 10, windowMs: 60_000 },
      tokenLimitPolicy: 'evict-oldest',
      defaultScopes: ['read'],
      routePrefix: '/api/auth',
      decoratorName: 'account',
      authenticateDecorator: 'requireToken'
    })
  })

  test('options of the wrong type are refused', () => {
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 42 })
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', tokenTtl: '1h' })
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', registration: 'invite-only' })
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', loginRateLimit: 10 })
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', tokenLimitPolicy: 'evict' })
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', clock: 'now' })
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', clock: () => new Date() })
  })

  test('an unknown option is refused', () => {
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseURL: 'sqlite::memory:' })
  })

  test('each option has its documented type', () => {
    expect<TesseraOptions['databaseUrl']>().type.toBe<string | undefined>()
    expect<TesseraOptions['tokenTtl']>().type.toBe<number | null | undefined>()
    expect<TesseraOptions['registration']>().type.toBe<'open' | 'closed' | undefined>()
    expect<TesseraOptions['tokenLimitPolicy']>().type.toBe<'refuse' | 'evict-oldest' | undefined>()
    expect<TesseraOptions['migrate']>().type.toBe<boolean | undefined>()
    expect<TesseraOptions['users']>().type.toBe<UserStore<TesseraUser> | undefined>()
    expect<TesseraOptions['clock']>().type.toBe<(() => number) | undefined>()
    expect(app.register).type.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', clock: Date.now })
  })

  test('a user store needs find and idOf', () => {
    const find = async (id: string): Promise<TesseraUser | null> => ({ id: Number(id), username: 'a', email: null, createdAt: '' })
    const idOf = (user: TesseraUser): string => String(user.id)
    expect(app.register).type.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', users: { find, idOf } })
    expect(app.register).type.not.toBeCallableWith(tessera, { databaseUrl: 'sqlite::memory:', users: { find } })
  })
})

describe('what the plugin adds to Fastify', () => {
  test('request.user is the built-in user, or null', () => {
    expect<AppUser>().type.toBe<TesseraUser>()
    expect<FastifyRequest['user']>().type.toBe<TesseraUser | null>()
    expect<FastifyRequest['authToken']>().type.toBe<AuthToken | null>()
    app.get('/orders', { preHandler: app.authenticate }, async (request) => {
      expect(request.user).type.toBe<TesseraUser | null>()
      expect(request.user!.username).type.toBe<string>()
      return {}
    })
  })

  test('the instance has authenticate, requireScopes and tessera', () => {
    expect(app.authenticate).type.toBe<AuthenticateHook>()
    expect(app.tessera).type.toBe<Tessera>()
    expect(app.requireScopes).type.toBeCallableWith('orders:read', 'orders:write')
    expect(app.requireScopes).type.not.toBeCallableWith(['orders:read'])
  })

  test('the token service speaks of the built-in user', () => {
    expect(app.tessera.tokens.verify('tsr_…')).type.toBe<Promise<{ user: TesseraUser, token: AuthToken } | null>>()
    expect(app.tessera.tokens.issue).type.toBeCallableWith({ id: 1, username: 'a', email: null, createdAt: '' }, { device: 'cli' })
    expect(app.tessera.tokens.issue).type.not.toBeCallableWith({ id: 1, username: 'a', email: null, createdAt: '' }, {})
  })
})
