/**
 * The client's public types, as `tessera-auth/client` (and `tessera-auth-client`) exports them: what
 * its constructor takes (the global `fetch` included), what each call takes and resolves to, and
 * what a refusal carries.
 */
import { describe, expect, test } from 'tstyche'
import {
  TesseraClient, TesseraError, type CreatedToken, type FetchFunction, type IssuedToken, type Me, type Session,
  type TesseraErrorCode, type TesseraUser
} from 'tessera-auth/client'

const client = new TesseraClient({ baseUrl: 'http://127.0.0.1:3000' })

describe('the client', () => {
  test('is made from a base URL, with a token, a prefix, headers and a fetch of choice', () => {
    expect(TesseraClient).type.toBeConstructableWith({ baseUrl: new URL('http://127.0.0.1:3000') })
    expect(TesseraClient).type.toBeConstructableWith({
      baseUrl: 'https://auth.example.com',
      token: process.env.TESSERA_TOKEN ?? null,
      prefix: '/api/auth',
      headers: { 'user-agent': 'nightly-export' },
      fetch: globalThis.fetch
    })
    expect(globalThis.fetch).type.toBeAssignableTo<FetchFunction>()
  })

  test('refuses options of the wrong type', () => {
    expect(TesseraClient).type.not.toBeConstructableWith({})
    expect(TesseraClient).type.not.toBeConstructableWith({ baseUrl: 3000 })
    expect(TesseraClient).type.not.toBeConstructableWith({ baseUrl: 'http://x', token: 42 })
    expect(TesseraClient).type.not.toBeConstructableWith({ baseUrl: 'http://x', fetch: (url: URL) => url })
  })

  test('holds its token', () => {
    expect(client.token).type.toBe<string | null>()
    expect(client.authHeaders()).type.toBe<{ authorization: string }>()
  })

  test('register and login take credentials and resolve to the issued token', () => {
    expect(client.register({ username: 'alice', password: 'a long passphrase', email: 'alice@example.com' })).type.toBe<Promise<IssuedToken>>()
    expect(client.login({ username: 'alice', password: 'a long passphrase', device: 'laptop' })).type.toBe<Promise<IssuedToken>>()
    expect(client.login).type.not.toBeCallableWith({ username: 'alice' })
    expect(client.login).type.not.toBeCallableWith('alice', 'a long passphrase')
    expect<IssuedToken['user']>().type.toBe<TesseraUser>()
  })

  test('the session calls resolve to their shapes', () => {
    expect(client.me()).type.toBe<Promise<TesseraUser>>()
    expect(client.whoami()).type.toBe<Promise<Me>>()
    expect(client.listTokens()).type.toBe<Promise<Session[]>>()
    expect(client.renameToken('id', 'phone')).type.toBe<Promise<Session>>()
    expect(client.createToken({ device: 'export', scopes: ['orders:read'], ttl: '30d' })).type.toBe<Promise<CreatedToken>>()
    expect(client.createToken).type.not.toBeCallableWith({ device: 'export' })
    expect(client.logout()).type.toBe<Promise<void>>()
    expect(client.revokeToken).type.not.toBeCallableWith(42)
  })
})

describe('a refusal', () => {
  test('carries the status, a code a program acts on, and the request id', () => {
    const error = new TesseraError(401, 'Unauthorized', 'expired', { code: 'TOKEN_EXPIRED', requestId: 'r1' })
    expect(error).type.toBeAssignableTo<Error>()
    expect(error.status).type.toBe<number>()
    expect(error.requestId).type.toBe<string | undefined>()
    expect<TesseraErrorCode>().type.toBeAssignableTo<NonNullable<TesseraError['code']>>()
    // A newer server's code still fits: the type is the known codes or any string.
    expect<string>().type.toBeAssignableTo<NonNullable<TesseraError['code']>>()
    expect<'TOKEN_EXPIRED'>().type.toBeAssignableTo<TesseraErrorCode>()
    expect<'TOKEN_GONE'>().type.not.toBeAssignableTo<TesseraErrorCode>()
  })
})
