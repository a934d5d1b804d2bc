import t from 'tap'
import { refusalChallenge } from '../../src/http/authenticate.js'
import { AUTH_FAILURES, AuthenticationError } from '../../src/tokens/failures.js'
import { auth, buildTestApp, me, register } from '../helpers/app.js'

t.test('Token and Bearer schemes both authenticate; /auth/me returns the user', async (t) => {
  const { app } = await buildTestApp(t)
  const { token, user } = await register(app)
  for (const scheme of ['Token', 'Bearer', 'token', 'BEARER']) {
    const response = await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `${scheme} ${token}` } })
    t.equal(response.statusCode, 200, scheme)
    t.same(response.json().user, user)
  }
})

t.test('every 401 case has its own message and code; WWW-Authenticate says invalid_token once a token was sent', async (t) => {
  const { app } = await buildTestApp(t)
  const { token } = await register(app)
  const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')
  const cases: Array<[string, Record<string, string>, string, string]> = [
    ['no header', {}, AUTH_FAILURES.missing, 'TOKEN_MISSING'],
    ['empty header', { authorization: '' }, AUTH_FAILURES.missing, 'TOKEN_MISSING'],
    ['scheme only', { authorization: 'Token' }, AUTH_FAILURES.noCredentials, 'TOKEN_MISSING'],
    ['scheme and a space', { authorization: 'Token ' }, AUTH_FAILURES.noCredentials, 'TOKEN_MISSING'],
    ['credentials with spaces', { authorization: `Token ${token} extra` }, AUTH_FAILURES.spaces, 'TOKEN_MALFORMED'],
    ['another scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, AUTH_FAILURES.scheme, 'TOKEN_MISSING'],
    ['control character', { authorization: `Token ${token}\u0007` }, AUTH_FAILURES.characters, 'TOKEN_MALFORMED'],
    ['not valid UTF-8 (latin1 bytes)', { authorization: `Token \u00ff\u00fe${token}` }, AUTH_FAILURES.characters, 'TOKEN_MALFORMED'],
    ['non-ASCII text', { authorization: 'Token jetón' }, AUTH_FAILURES.characters, 'TOKEN_MALFORMED'],
    ['mistyped (checksum)', { authorization: `Token ${flipped}` }, AUTH_FAILURES.malformed, 'TOKEN_MALFORMED'],
    ['truncated', { authorization: `Token ${token.slice(0, -3)}` }, AUTH_FAILURES.malformed, 'TOKEN_MALFORMED'],
    ['not a tessera token', { authorization: 'Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b' }, AUTH_FAILURES.malformed, 'TOKEN_MALFORMED'],
    ['a 10 KB token', { authorization: `Token ${'a'.repeat(10 * 1024)}` }, AUTH_FAILURES.malformed, 'TOKEN_MALFORMED']
  ]
  const messages = new Set<string>()
  for (const [name, headers, message, code] of cases) {
    const response = await app.inject({ method: 'GET', url: '/auth/me', headers })
    t.equal(response.statusCode, 401, name)
    t.equal(response.headers['www-authenticate'], code === 'TOKEN_MISSING'
      ? 'Token'
      : `Token error="invalid_token", error_description="${message.replaceAll('"', "'")}"`, `${name}: WWW-Authenticate`)
    t.same(response.json(), { statusCode: 401, error: 'Unauthorized', message, code }, name)
    messages.add(message)
  }
  t.equal(messages.size, 6, 'distinct messages for distinct causes')
})

t.test('the challenge is RFC 6750 3: no error attribute without a token; a quoted description of printable ASCII without quotes', async (t) => {
  t.equal(refusalChallenge(new AuthenticationError('missing')), 'Token')
  t.equal(refusalChallenge(new AuthenticationError('scheme')), 'Token')
  for (const failure of ['spaces', 'characters', 'malformed', 'unknown', 'expired', 'inactive'] as const) {
    t.match(refusalChallenge(new AuthenticationError(failure)), /^Token error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/, failure)
  }
  t.equal(refusalChallenge(new AuthenticationError('revoked', 'password_changed')),
    'Token error="invalid_token", error_description="Token has been revoked: its user\'s password was changed."')
})

t.test('an unknown well-formed token is 401 TOKEN_INVALID', async (t) => {
  const { app } = await buildTestApp(t)
  const stranger = app.tessera.tokens
  t.ok(stranger)
  // A token of the right format that was never issued by this database.
  const { TokenFormat } = await import('../../src/tokens/format.js')
  const response = await me(app, new TokenFormat('tsr_').generate())
  t.equal(response.statusCode, 401)
  t.same(response.json(), { statusCode: 401, error: 'Unauthorized', message: AUTH_FAILURES.unknown, code: 'TOKEN_INVALID' })
  t.equal(response.headers['www-authenticate'], `Token error="invalid_token", error_description="${AUTH_FAILURES.unknown}"`)
})

t.test('a token whose user the store no longer returns is USER_INACTIVE, and kept', async (t) => {
  const { app } = await buildTestApp(t)
  const { token, user, tokenId } = await register(app)
  const db = app.tessera.database.kysely
  await db.updateTable('tessera_users').set({ deactivated_at: Date.now() }).where('id', '=', user.id).execute()
  const response = await me(app, token)
  t.equal(response.statusCode, 401)
  t.same(response.json(), { statusCode: 401, error: 'Unauthorized', message: AUTH_FAILURES.inactive, code: 'USER_INACTIVE' })
  t.ok(await db.selectFrom('tessera_tokens').select('id').where('id', '=', tokenId).executeTakeFirst(), 'no side effect: the row stays')
  await db.updateTable('tessera_users').set({ deactivated_at: null }).where('id', '=', user.id).execute()
  t.equal((await me(app, token)).statusCode, 200, 'reactivated, the token works again')
})

t.test('failed authentications change nothing stored', async (t) => {
  const { app } = await buildTestApp(t)
  const { token } = await register(app)
  const db = app.tessera.database.kysely
  const before = await db.selectFrom('tessera_tokens').selectAll().execute()
  for (const authorization of ['Token', 'Token a b', `Token ${token.slice(0, -1)}${token.endsWith('x') ? 'y' : 'x'}`, 'Bearer tsr_nope', 'Digest abc']) {
    t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization } })).statusCode, 401)
  }
  t.same(await db.selectFrom('tessera_tokens').selectAll().execute(), before)
})

t.test('every protected route refuses without a token', async (t) => {
  const { app } = await buildTestApp(t)
  const routes: Array<[string, string]> = [
    ['GET', '/auth/me'], ['POST', '/auth/logout'], ['POST', '/auth/logoutall'], ['POST', '/auth/logoutothers'],
    ['GET', '/auth/tokens'], ['POST', '/auth/password']
  ]
  for (const [method, url] of routes) {
    const response = await app.inject({ method: method as 'GET', url, headers: auth('tsr_x') })
    t.equal(response.statusCode, 401, `${method} ${url}`)
    t.equal(response.json().code, 'TOKEN_MALFORMED')
    t.match(response.headers['www-authenticate'], /^Token error="invalid_token", /)
  }
})
