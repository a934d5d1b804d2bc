/**
 * An application that brings its own users declares their type once, as the README shows; then
 * `request.user`, the `users` option, the token service and the events all speak of that type.
 */
import Fastify, { type FastifyRequest } from 'fastify'
import { expect, test } from 'tstyche'
import tessera, {
  openDatabase, type AppUser, type AuthToken, type TesseraEvents, type TesseraOptions, type TesseraUser, type UserStore
} from 'tessera-auth'

interface MyUser {
  id: string
  email: string
  plan: 'free' | 'pro'
}

declare module 'tessera-auth' {
  interface TesseraTypes { user: MyUser }
}

const app = Fastify()
const me: MyUser = { id: 'u1', email: 'a@example.com', plan: 'pro' }
const builtin: TesseraUser = { id: 1, username: 'a', email: null, createdAt: '' }

test('AppUser and request.user are the declared user', () => {
  expect<AppUser>().type.toBe<MyUser>()
  expect<FastifyRequest['user']>().type.toBe<MyUser | null>()
  app.get('/orders', { preHandler: app.authenticate }, async (request) => {
    expect(request.user).type.toBe<MyUser | null>()
    expect(request.user!.plan).type.toBe<'free' | 'pro'>()
    expect(request.user!).type.not.toHaveProperty('username')
    return {}
  })
})

test('the users option is a store of the declared user', () => {
  expect<TesseraOptions['users']>().type.toBe<UserStore<MyUser> | undefined>()
  const users = { find: async (id: string) => id === me.id ? me : null, idOf: (user: MyUser) => user.id }
  expect(app.register).type.toBeCallableWith(tessera, { database: openDatabase('sqlite::memory:'), users })
  const builtinStore = { find: async () => builtin, idOf: (user: TesseraUser) => String(user.id) }
  expect(app.register).type.not.toBeCallableWith(tessera, { database: openDatabase('sqlite::memory:'), users: builtinStore })
})

test('the token service issues to and verifies the declared user', () => {
  expect(app.tessera.tokens.issue).type.toBeCallableWith(me, { device: 'phone' })
  expect(app.tessera.tokens.issue).type.not.toBeCallableWith(builtin, { device: 'phone' })
  expect(app.tessera.tokens.verify('tsr_…')).type.toBe<Promise<{ user: MyUser, token: AuthToken } | null>>()
})

test('a login event carries the declared user', () => {
  expect<TesseraEvents['login'][0]['user']>().type.toBe<MyUser>()
})
