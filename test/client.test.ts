import type { Static } from '@fastify/type-provider-typebox'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import {
  TesseraClient, TesseraError, type ChangePasswordInput, type IssuedToken, type LoginInput, type RegisterInput,
  type Session, type TesseraUser, type CreateTokenInput, type CreatedToken, type Introspection, type Me, type RevocationReason,
  type TesseraErrorCode
} from '../src/client/index.js'
import type { ErrorCode } from '../src/error-codes.js'
import type * as schemas from '../src/http/schemas.js'
import type { RevocationReason as ServerRevocationReason } from '../src/tokens/failures.js'
import { PASSWORD, buildTestApp, type TestContext } from './helpers/app.js'

// The client's types are written out for its readers; these fail to compile if they drift from the API's schemas.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const typesMatchTheSchemas: [
  Same<TesseraUser, Static<typeof schemas.User>>,
  Same<IssuedToken, Static<ReturnType<typeof schemas.userSchemas<typeof schemas.User>>['IssuedToken']>>,
  Same<Session, Static<typeof schemas.Session>>,
  Same<RegisterInput, Static<typeof schemas.RegisterBody>>,
  Same<Required<LoginInput>, Required<Static<typeof schemas.LoginBody>>>,
  Same<ChangePasswordInput, Static<typeof schemas.ChangePasswordBody>>,
  Same<CreateTokenInput, Static<typeof schemas.CreateTokenBody>>,
  Same<CreatedToken, Static<typeof schemas.CreatedToken>>,
  Same<Introspection, Static<typeof schemas.Introspection>>,
  Same<Me, Static<ReturnType<typeof schemas.userSchemas<typeof schemas.User>>['MeResponse']>>,
  Same<{ device: string }, Static<typeof schemas.RenameTokenBody>>,
  Same<TesseraErrorCode, ErrorCode>,
  Same<RevocationReason, ServerRevocationReason>
] = [true, true, true, true, true, true, true, true, true, true, true, true, true]
void typesMatchTheSchemas

/** The real service, listening on a free port, with one protected route of "the application". */
async function listening (t: TestContext): Promise<string> {
  const { app } = await buildTestApp(t)
  app.get('/orders', { preHandler: app.authenticate }, async (request) => ({ owner: request.user!.username }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

async function rejection (t: Pick<typeof import('tap').default, 'fail'>, promise: Promise<unknown>): Promise<TesseraError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof TesseraError) return error
    throw error
  }
  t.fail('expected a TesseraError')
  throw new Error('unreachable')
}

t.test('register, me, and the application\'s own routes with authHeaders()', async (t) => {
  const baseUrl = await listening(t)
  const client = new TesseraClient({ baseUrl: `${baseUrl}/` })
  t.throws(() => client.authHeaders(), /no token/)
  const issued = await client.register({ username: 'alice', password: PASSWORD, email: 'alice@example.com', device: 'tests' })
  t.match(issued, { token: /^tsr_/, tokenId: /^[0-9a-f-]{36}$/, user: { username: 'alice', email: 'alice@example.com' } })
  t.equal(client.token, issued.token, 'the client uses its new token')
  t.same(await client.me(), issued.user)
  t.same(client.authHeaders(), { authorization: `Token ${issued.token}` })
  const orders = await fetch(`${baseUrl}/orders`, { headers: client.authHeaders() })
  t.equal(orders.status, 200)
  t.same(await orders.json(), { owner: 'alice' })
})

t.test('login, listTokens, revokeToken, logoutOthers, logout, logoutAll', async (t) => {
  const baseUrl = await listening(t)
  const laptop = new TesseraClient({ baseUrl })
  await laptop.register({ username: 'bob', password: PASSWORD, device: 'laptop' })
  const phone = new TesseraClient({ baseUrl })
  const phoneToken = await phone.login({ username: 'bob', password: PASSWORD, device: 'phone' })
  const tablet = new TesseraClient({ baseUrl })
  await tablet.login({ username: 'bob', password: PASSWORD, device: 'tablet' })

  const sessions = await laptop.listTokens()
  t.same(sessions.map((session) => session.device), ['tablet', 'phone', 'laptop'], 'newest first')
  t.same(sessions.map((session) => session.current), [false, false, true])

  await laptop.revokeToken(phoneToken.tokenId)
  t.match(await rejection(t, phone.me()), { status: 401, code: 'TOKEN_REVOKED', reason: 'revoked' }, 'the revoked device is logged out, and told why')
  t.same((await laptop.listTokens()).map((session) => session.device), ['tablet', 'laptop'])

  await laptop.logoutOthers()
  t.match(await rejection(t, tablet.me()), { status: 401, code: 'TOKEN_REVOKED', reason: 'logout_others' })
  t.same((await laptop.listTokens()).map((session) => session.device), ['laptop'])

  const kept = laptop.token!
  await laptop.logout()
  t.equal(laptop.token, null, 'logout forgets the token')
  t.match(await rejection(t, new TesseraClient({ baseUrl, token: kept }).me()), { status: 401, code: 'TOKEN_REVOKED', reason: 'logout' }, 'and the server revoked it')

  const a = new TesseraClient({ baseUrl })
  const b = new TesseraClient({ baseUrl })
  await a.login({ username: 'bob', password: PASSWORD })
  await b.login({ username: 'bob', password: PASSWORD })
  await a.logoutAll()
  t.equal(a.token, null)
  t.match(await rejection(t, b.me()), { status: 401, code: 'TOKEN_REVOKED', reason: 'logout_all' }, 'every device is logged out')
})

t.test('whoami shows the session of the client\'s token; renameToken renames a session; the new session fields', async (t) => {
  const baseUrl = await listening(t)
  const phone = new TesseraClient({ baseUrl, headers: { 'user-agent': 'MyApp/2.3.1 CFNetwork/1410.0.3 Darwin/22.6.0' } })
  const issued = await phone.register({ username: 'ivan', password: PASSWORD })
  const { user, session } = await phone.whoami()
  t.same(user, issued.user)
  t.match(session, { id: issued.tokenId, device: 'MyApp 2.3.1 (iOS app)', expiry: issued.expiry, scopes: ['*'] })
  t.type(session.lastUsedAt, 'string')

  const renamed = await phone.renameToken(issued.tokenId, 'Ivan\'s iPhone')
  t.match(renamed, { id: issued.tokenId, device: 'Ivan\'s iPhone', current: true, createdIp: '127.0.0.1', lastUsedIp: '127.0.0.1', userAgent: 'MyApp/2.3.1 CFNetwork/1410.0.3 Darwin/22.6.0' })
  t.same((await phone.listTokens())[0], renamed, 'as listTokens shows it')
  t.match(await rejection(t, phone.renameToken('00000000-0000-4000-8000-000000000000', 'x')), { status: 404, message: 'No such session.' })
  t.match(await rejection(t, phone.renameToken(issued.tokenId, '')), { status: 400 })
})

t.test('changePassword keeps this token and revokes the others', async (t) => {
  const baseUrl = await listening(t)
  const client = new TesseraClient({ baseUrl })
  await client.register({ username: 'carol', password: PASSWORD })
  const other = new TesseraClient({ baseUrl })
  await other.login({ username: 'carol', password: PASSWORD })
  const wrong = await rejection(t, client.changePassword({ currentPassword: 'not the password', newPassword: 'a new password' }))
  t.match(wrong, { status: 403, error: 'Forbidden', message: 'The current password is wrong.', code: 'BAD_CREDENTIALS', reason: undefined })
  await client.changePassword({ currentPassword: PASSWORD, newPassword: 'a new password' })
  t.equal((await client.me()).username, 'carol')
  t.match(await rejection(t, other.me()), { status: 401, code: 'TOKEN_REVOKED', reason: 'password_changed' })
  await new TesseraClient({ baseUrl }).login({ username: 'carol', password: 'a new password' })
})

t.test('activity pages through the log, newest first', async (t) => {
  const baseUrl = await listening(t)
  const client = new TesseraClient({ baseUrl })
  await client.register({ username: 'dora', password: PASSWORD, device: 'laptop' })
  await new TesseraClient({ baseUrl }).login({ username: 'dora', password: PASSWORD, device: 'phone' })
  await client.logoutOthers()
  const first = await client.activity({ limit: 2 })
  t.same(first.events.map((event) => event.type), ['logout_others', 'login'])
  t.equal(first.events[1]!.device, 'phone')
  t.type(first.next, 'string')
  const rest = await client.activity({ limit: 2, before: first.next! })
  t.same(rest.events.map((event) => event.device), ['laptop'])
  t.equal(rest.next, null)
  t.equal((await client.activity()).events.length, 3)
})

t.test('a token from elsewhere (the CLI, an environment variable) is used as given', async (t) => {
  const baseUrl = await listening(t)
  const { token } = await new TesseraClient({ baseUrl }).register({ username: 'dave', password: PASSWORD })
  const client = new TesseraClient({ baseUrl, token })
  t.equal((await client.me()).username, 'dave')
})

t.test('refusals are TesseraErrors with the status, the server\'s message and the request id', async (t) => {
  const baseUrl = await listening(t)
  const client = new TesseraClient({ baseUrl })
  const badLogin = await rejection(t, client.login({ username: 'nobody', password: 'whatever1' }))
  t.ok(badLogin instanceof Error)
  t.match(badLogin, { name: 'TesseraError', status: 401, error: 'Unauthorized', message: 'Unable to log in with the provided credentials.', code: 'BAD_CREDENTIALS' })
  t.equal(badLogin.reason, undefined, 'no reason but beside TOKEN_REVOKED')
  t.match(badLogin.requestId, /^[0-9a-f-]{36}$/)
  t.equal(client.token, null, 'a failed login leaves no token')

  t.match(await rejection(t, client.me()), { status: 401, message: /credentials were not provided/, code: 'TOKEN_MISSING' })
  await client.register({ username: 'erin', password: PASSWORD })
  t.match(await rejection(t, client.register({ username: 'ERIN', password: PASSWORD })), { status: 409, error: 'Conflict', code: 'USERNAME_TAKEN' })
  t.match(await rejection(t, client.register({ username: 'frank', password: 'short' })), { status: 400, error: 'Bad Request', code: 'VALIDATION_FAILED' })
  t.match(await rejection(t, client.revokeToken('00000000-0000-4000-8000-000000000000')), { status: 404, message: 'No such session.', code: 'NOT_FOUND' })
  t.match(await rejection(t, client.revokeToken('not-a-uuid')), { status: 400, code: 'VALIDATION_FAILED' })
  t.match(await rejection(t, new TesseraClient({ baseUrl, token: 'tsr_mistyped' }).me()), { status: 401, code: 'TOKEN_MALFORMED' })
})

t.test('a server that cannot be reached, or answers with something else than JSON, is still a TesseraError', async (t) => {
  const unreachable = new TesseraClient({ baseUrl: 'http://127.0.0.1:1' })
  const network = await rejection(t, unreachable.login({ username: 'x', password: 'y' }))
  t.match(network, { status: 0, error: 'NetworkError', message: /POST http:\/\/127\.0\.0\.1:1\/auth\/login failed/ })
  t.ok(network.cause)
  t.equal(network.code, undefined, 'no code without an answer')
  t.equal(network.reason, undefined)

  const proxy = new TesseraClient({
    baseUrl: 'http://tessera.test',
    prefix: '/api/auth/',
    token: 'tsr_x',
    fetch: async (input) => {
      t.equal(String(input), 'http://tessera.test/api/auth/me', 'the prefix is honoured')
      return new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' })
    }
  })
  const page = await rejection(t, proxy.me())
  t.match(page, { status: 502, error: 'Bad Gateway', message: '<html>Bad Gateway</html>' })
  t.equal(page.code, undefined, "no code in a page that is not tessera's")
})

t.test("the package exports the client as 'tessera-auth/client'", async (t) => {
  const specifier = 'tessera-auth/client'
  const exported = await import(specifier) as typeof import('../src/client/index.js')
  t.type(exported.TesseraClient, 'function')
  t.type(exported.TesseraError, 'function')
  const baseUrl = await listening(t)
  const client = new exported.TesseraClient({ baseUrl })
  await client.register({ username: 'grace', password: PASSWORD })
  t.equal((await client.me()).username, 'grace')
})
