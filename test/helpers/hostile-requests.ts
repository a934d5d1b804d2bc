/**
 * fast-check arbitraries for hostile requests to tessera, used by test/hardening/hostile-input.test.ts.
 *
 * An arbitrary here produces a *description* of a request ("the second known user's token with its
 * checksum changed", "another user's session id in upper case"), and `resolveRequest` turns it into
 * a concrete request against the known users of one run. Tokens are random in every run, so this
 * is what makes a seed replay the same cases.
 *
 * Which requests may carry a known, valid token is decided per route (`Route.kind`): the test
 * asserts that stored data is unchanged by everything it sends, so a valid token never goes
 * where it would legitimately change data (see the comment at the top of the test).
 */
import { METHODS } from 'node:http'
import fc from 'fast-check'

/** A known user of the run, with tokens that work and tokens that were revoked. */
export interface KnownUser {
  username: string
  userId: number
  live: Array<{ token: string, tokenId: string }>
  revoked: Array<{ token: string, tokenId: string }>
}

export interface Fixture {
  users: KnownUser[]
  /** Every known user's password. */
  password: string
  /** A token of the right format that no database holds (a fresh one each call). */
  wellFormedUnknown: () => string
}

/**
 * `read`: reads data, may carry a valid token; `public`: ignores tokens (login reads Basic only),
 * may carry one; `revoking`: would revoke with a valid token, never gets one; `revokeOne`:
 * DELETE /auth/tokens/:id, gets a valid token only with an id that is not one of that user's own
 * sessions; `password`: gets a valid token only with a wrong current password.
 */
export type RouteKind = 'read' | 'public' | 'revoking' | 'revokeOne' | 'password'

export interface Route {
  method: string
  path: string
  kind: RouteKind
}

export const ROUTES: readonly Route[] = [
  { method: 'POST', path: '/auth/register', kind: 'public' },
  { method: 'POST', path: '/auth/login', kind: 'public' },
  { method: 'GET', path: '/auth/me', kind: 'read' },
  { method: 'GET', path: '/auth/tokens', kind: 'read' },
  { method: 'GET', path: '/healthz', kind: 'public' },
  { method: 'POST', path: '/auth/logout', kind: 'revoking' },
  { method: 'POST', path: '/auth/logoutall', kind: 'revoking' },
  { method: 'POST', path: '/auth/logoutothers', kind: 'revoking' },
  { method: 'DELETE', path: '/auth/tokens/:id', kind: 'revokeOne' },
  { method: 'POST', path: '/auth/password', kind: 'password' }
]

const mayCarryValidToken = (route: Route | undefined): boolean => route !== undefined && route.kind !== 'revoking'

// ---------------------------------------------------------------------------------------------
// Strings

const SQL = [
  "' OR '1'='1", "admin'--", "'; DROP TABLE users; --", '" OR ""="', '1; DELETE FROM auth_tokens',
  "x' UNION SELECT digest FROM auth_tokens --", '%', '_', '\\', "\\'", '%00', '/*', '*/', ')))))'
]
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'then']
const ODD_TEXT = [
  '', ' ', '\u0000', 'a\u0000b', '\r\n', '\t', '\u00ff\u00fe', '\ufeff', '\u202e', '\u2028', '\ud800', '\udfff',
  'Zoë', 'ß', 'ﬀ', 'İ', '𝒜', '👩‍💻', 'null', 'undefined', 'NaN', 'true', '0', '-1', '1e309', '[]', '{}',
  // eslint-disable-next-line no-template-curly-in-string -- a template-injection probe, sent as plain text
  '../../etc/passwd', '<script>', '${7*7}', '{{7*7}}', 'tsr_', ...SQL, ...PROTO_KEYS
]

/** Short strings of every kind: unicode, control characters, SQL, prototype keys. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ODD_TEXT) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('\u0000', '\u0001', '\u001f', '\u007f', '\u0080', '\u00ff', ' ', 'a'), maxLength: 20 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9@.+_-]{1,24}$/) }
)

/** Up to `max` characters of one repeated character: too long for a field, a header or the body limit. */
const hugeString = (max: number): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom('a', 'é', '\u0000', '👩', ' ', '%', '"'), fc.integer({ min: 100, max })).map(([c, n]) => c.repeat(n))

/** Percent-encodes every byte outside the URL's unreserved set (valid for any string, lone surrogates too). */
export function encodePathPart (text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Authorization

export type TokenMutation =
  | { op: 'truncate', at: number }
  | { op: 'replace', at: number, char: string }
  | { op: 'insert', at: number, text: string }
  | { op: 'drop', at: number }
  | { op: 'prefix', prefix: string }
  | { op: 'append', text: string }
  | { op: 'double' }

export type AuthSpec =
  | { kind: 'absent' }
  | { kind: 'valid', user: number, token: number, scheme: string, sep: string, trail: string }
  | { kind: 'revoked', user: number, scheme: string, sep: string, trail: string }
  | { kind: 'mutated', user: number, token: number, mutation: TokenMutation, scheme: string, sep: string, trail: string }
  | { kind: 'wellFormedUnknown', scheme: string }
  | { kind: 'text', value: string }
  | { kind: 'basic', user: number, knownUser: boolean, knownPassword: boolean, username: string, password: string }
  | { kind: 'basicText', value: string }

const TOKEN_SCHEMES = ['Token', 'Bearer', 'token', 'BEARER']
const ANY_SCHEMES = [...TOKEN_SCHEMES, 'Basic', 'Digest', 'Tokens', 'Toke', 'Token:', 'JWT', '', 'Token\u0000', 'Tökén', 'Negotiate']
const SEPARATORS = [' ', ' ', ' ', '  ', '\t', '', ':', ' \u00a0', '\u00a0', '=', '\r\n ']
const TRAILS = ['', '', '', ' ', '  ', '\t', '\u0000', ',', '\r', '\n', ';', '\u00ff']
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** Text that is not made of spaces only: appended to a token it always changes what is read. */
const notOnlySpaces = fc.oneof(fc.constantFrom('x', 'A', '0', '=', '\u0000', '\u00ff', 'é', '\t', ' x', '.', '%20'), hostileString)
  .filter((s) => /[^ ]/.test(s))

const mutationArb: fc.Arbitrary<TokenMutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), char: fc.oneof(fc.constantFrom(...BASE62.split('')), fc.constantFrom(' ', '\u0000', '\u00e9', '-', '_')) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: notOnlySpaces }),
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('prefix' as const), prefix: fc.constantFrom('', 'TSR_', 'tsr-', 'tsr_tsr_', 'ghp_', 'tsr', 'Tsr_') }),
  fc.record({ op: fc.constant('append' as const), text: notOnlySpaces }),
  fc.constant({ op: 'double' as const })
)

/** Applies a mutation; the result always differs from the token by more than surrounding spaces. */
export function mutateToken (token: string, mutation: TokenMutation): string {
  const at = (n: number, length: number): number => n % length
  switch (mutation.op) {
    case 'truncate': return token.slice(0, at(mutation.at, token.length))
    case 'replace': {
      const i = at(mutation.at, token.length)
      const char = mutation.char === token[i] ? (token[i] === 'A' ? 'B' : 'A') : mutation.char
      return token.slice(0, i) + char + token.slice(i + 1)
    }
    case 'insert': {
      const i = at(mutation.at, token.length + 1)
      return token.slice(0, i) + mutation.text + token.slice(i)
    }
    case 'drop': {
      const i = at(mutation.at, token.length)
      return token.slice(0, i) + token.slice(i + 1)
    }
    case 'prefix': return mutation.prefix + token.slice(token.indexOf('_') + 1)
    case 'append': return token + mutation.text
    case 'double': return token + token
  }
}

const framing = {
  scheme: fc.constantFrom(...ANY_SCHEMES),
  sep: fc.constantFrom(...SEPARATORS),
  trail: fc.constantFrom(...TRAILS)
}

/** Authorization headers; a known valid token only when `allowValid`. */
export function authArb (allowValid: boolean): fc.Arbitrary<AuthSpec> {
  const someone = { user: fc.nat(), token: fc.nat() }
  const arbs: Array<fc.WeightedArbitrary<AuthSpec>> = [
    { weight: 3, arbitrary: fc.constant({ kind: 'absent' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('revoked' as const), user: fc.nat(), ...framing }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('mutated' as const), ...someone, mutation: mutationArb, ...framing }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('wellFormedUnknown' as const), scheme: fc.constantFrom(...TOKEN_SCHEMES) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('text' as const),
        value: fc.oneof(
          hostileString,
          fc.tuple(framing.scheme, framing.sep, hostileString).map(([a, b, c]) => a + b + c),
          fc.tuple(fc.constantFrom(...TOKEN_SCHEMES), fc.stringMatching(/^tsr_[A-Za-z0-9]{40,52}$/)).map(([a, b]) => `${a} ${b}`),
          hugeString(12 * 1024).map((s) => `Token ${s}`)
        )
      })
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('basic' as const),
        user: fc.nat(),
        knownUser: fc.boolean(),
        knownPassword: fc.boolean(),
        username: hostileString,
        password: hostileString
      })
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('basicText' as const),
        value: fc.oneof(hostileString, fc.base64String({ maxLength: 40 }), fc.constantFrom('=', '====', 'Og==', 'OmI=', 'YTo='))
      })
    }
  ]
  if (allowValid) {
    arbs.push({
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('valid' as const),
        ...someone,
        scheme: fc.constantFrom(...TOKEN_SCHEMES),
        sep: fc.constantFrom(' ', ' ', '  ', '\t'),
        trail: fc.constantFrom('', '', ' ', '\t')
      })
    })
  }
  return fc.oneof(...arbs)
}

const pick = <T>(items: readonly T[], n: number): T => items[n % items.length]!

/** The header value, and the known user it authenticates as when it may (`undefined`: none). */
export function resolveAuth (spec: AuthSpec, fixture: Fixture): { value: string | undefined, validFor: number | undefined } {
  const { users } = fixture
  switch (spec.kind) {
    case 'absent': return { value: undefined, validFor: undefined }
    case 'valid': {
      const user = spec.user % users.length
      const { token } = pick(users[user]!.live, spec.token)
      return { value: `${spec.scheme}${spec.sep}${token}${spec.trail}`, validFor: user }
    }
    case 'revoked': {
      const { token } = pick(pick(users, spec.user).revoked, 0)
      return { value: `${spec.scheme}${spec.sep}${token}${spec.trail}`, validFor: undefined }
    }
    case 'mutated': {
      const { token } = pick(pick(users, spec.user).live, spec.token)
      return { value: `${spec.scheme}${spec.sep}${mutateToken(token, spec.mutation)}${spec.trail}`, validFor: undefined }
    }
    case 'wellFormedUnknown': return { value: `${spec.scheme} ${fixture.wellFormedUnknown()}`, validFor: undefined }
    case 'text': return { value: spec.value, validFor: undefined }
    case 'basic': {
      const username = spec.knownUser ? pick(users, spec.user).username : spec.username
      const password = spec.knownPassword ? fixture.password : spec.password
      return { value: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`, validFor: undefined }
    }
    case 'basicText': return { value: `Basic ${spec.value}`, validFor: undefined }
  }
}

// ---------------------------------------------------------------------------------------------
// Paths and session ids

export type IdSpec =
  | { kind: 'uuid', value: string }
  | { kind: 'known', user: number, token: number, variant: 'exact' | 'upper' | 'braces' | 'noDashes' | 'trailing' }
  | { kind: 'revoked', user: number }
  | { kind: 'text', value: string }
  | { kind: 'long', length: number }
  | { kind: 'raw', value: string }

const idArb: fc.Arbitrary<IdSpec> = fc.oneof(
  fc.record({ kind: fc.constant('uuid' as const), value: fc.oneof(fc.uuid(), fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff')) }),
  fc.record({ kind: fc.constant('known' as const), user: fc.nat(), token: fc.nat(), variant: fc.constantFrom('exact' as const, 'exact' as const, 'upper' as const, 'braces' as const, 'noDashes' as const, 'trailing' as const) }),
  fc.record({ kind: fc.constant('revoked' as const), user: fc.nat() }),
  fc.record({ kind: fc.constant('text' as const), value: hostileString }),
  fc.record({ kind: fc.constant('long' as const), length: fc.integer({ min: 37, max: 20_000 }) }),
  // Already URL-shaped: bad escapes, encoded slashes and NUL, dot segments, numbers.
  fc.record({ kind: fc.constant('raw' as const), value: fc.constantFrom('%zz', '%', '%0', '%00', '%2F', '%252F', '..', '.', '%2e%2e', '0', '-1', '1.5', '9999999999999999999999', '%C0%AF', '%FF') })
)

/**
 * The session id in the path. With a valid token of user `validFor`, a "known" id is always one of
 * another user's sessions: revoking it must be a 404.
 */
function resolveId (spec: IdSpec, fixture: Fixture, validFor: number | undefined): string {
  const { users } = fixture
  switch (spec.kind) {
    case 'uuid': return spec.value
    case 'known': {
      const owner = validFor === undefined
        ? spec.user % users.length
        : (validFor + 1 + (spec.user % (users.length - 1))) % users.length
      const id = pick(users[owner]!.live, spec.token).tokenId
      switch (spec.variant) {
        case 'exact': return id
        case 'upper': return id.toUpperCase()
        case 'braces': return encodePathPart(`{${id}}`)
        case 'noDashes': return id.replaceAll('-', '')
        case 'trailing': return `${id}x`
      }
      break
    }
    case 'revoked': return pick(pick(users, spec.user).revoked, 0).tokenId
    case 'text': return encodePathPart(spec.value)
    case 'long': return 'a'.repeat(spec.length)
    case 'raw': return spec.value
  }
}

export type PathMutation =
  | 'none' | 'trailingSlash' | 'doubleSlash' | 'upper' | 'dotSegment' | 'semicolon' | 'fragment' | 'encodedNul' | 'unicode'
  | { encodeAt: number }

const pathMutationArb: fc.Arbitrary<PathMutation> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('none' as const) },
  { weight: 4, arbitrary: fc.constantFrom('trailingSlash', 'doubleSlash', 'upper', 'dotSegment', 'semicolon', 'fragment', 'encodedNul', 'unicode') },
  { weight: 1, arbitrary: fc.record({ encodeAt: fc.nat() }) }
)

/** Mutations keep the route or make it unknown; none of them leads to another route. */
function mutatePath (path: string, mutation: PathMutation): string {
  if (typeof mutation === 'object') {
    const i = 1 + (mutation.encodeAt % (path.length - 1))
    const c = path[i]!
    return c === '/' ? path : `${path.slice(0, i)}%${c.charCodeAt(0).toString(16).toUpperCase()}${path.slice(i + 1)}`
  }
  switch (mutation) {
    case 'none': return path
    case 'trailingSlash': return `${path}/`
    case 'doubleSlash': return `/${path}`
    case 'upper': return path.toUpperCase()
    case 'dotSegment': return `${path}/..`
    case 'semicolon': return `${path};jsessionid=1`
    case 'fragment': return `${path}#frag`
    case 'encodedNul': return `${path}%00`
    case 'unicode': return `${path}%C3%A9`
  }
}

/**
 * Paths off the routes. None of them can succeed (they never carry a valid token, and none leads
 * to login, register or /healthz), so any 2xx there is a failure.
 */
const ODD_PATHS = [
  '/', '*', '//', '/auth', '/auth/', '/AUTH/ME', '/auth/me/..', '/auth/tokens/../me', '/%2e%2e/auth/me', '/auth/%6De',
  '/auth/tokens/', '/auth/tokens//', '/auth//tokens', '/healthz/x', '/auth/login/x/../..', '/auth/me%2F',
  '/%zz', '/auth/%', '/auth/%u0000', '/favicon.ico', '/.env', '/admin', '/documentation', '/auth/tokens/:id', '/__proto__',
  '/constructor/prototype', '/auth/register.json', '/auth/me.php', '/auth/me/me', `/${'a'.repeat(5000)}`
]

const queryArb: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom('', '__proto__[x]=1', 'constructor[prototype][x]=1', 'a=1&a=2&a=3', '=&=&', '%zz=%zz', 'token=tsr_x', 'username=admin', 'x=%00'),
      fc.array(fc.tuple(hostileString, hostileString), { maxLength: 4 }).map((pairs) =>
        pairs.map(([k, v]) => `${encodePathPart(k)}=${encodePathPart(v)}`).join('&')),
      hugeString(4000).map((s) => `q=${encodePathPart(s)}`)
    )
  }
)

// ---------------------------------------------------------------------------------------------
// Bodies

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** A value in a JSON body; `username`/`password` stand for a known user's, resolved per run. */
export type ValueSpec =
  | { literal: Json }
  | { username: number, upper: boolean }
  | { password: true }
  | { huge: string }
  | { nested: number, open: '[' | '{"a":' }

const FIELDS = ['username', 'password', 'email', 'device', 'currentPassword', 'newPassword']

const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS, '$where', '$gt', '', 'USERNAME', ' username', 'username\u0000', 'user.name', 'id', 'isAdmin', 'user_id', 'token') },
  { weight: 1, arbitrary: hostileString }
)

const literalArb: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9]{8,20}$/) }, // long enough for a password
  { weight: 1, arbitrary: fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e308, -0, [], {}, [''], { username: 'x' }, '\u0000'.repeat(8)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 1, arbitrary: fc.emailAddress() },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'a.', 'a-', '0'), fc.integer({ min: 60, max: 300 })).map(([c, n]) => `${c.repeat(n)}@${c.repeat(n)}`) }
)

const valueArb: fc.Arbitrary<ValueSpec> = fc.oneof(
  { weight: 10, arbitrary: literalArb.map((literal) => ({ literal })) },
  { weight: 2, arbitrary: fc.record({ username: fc.nat(), upper: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ password: true as const }) },
  { weight: 1, arbitrary: hugeString(20_000).map((huge) => ({ huge })) },
  { weight: 1, arbitrary: fc.record({ nested: fc.integer({ min: 1, max: 9000 }), open: fc.constantFrom('[' as const, '{"a":' as const) }) }
)

export type BodySpec =
  | { kind: 'none' }
  /** An object written key by key, so that `__proto__` and duplicate keys reach the parser as sent. */
  | { kind: 'fields', entries: Array<[string, ValueSpec]>, cut: number | null }
  | { kind: 'json', value: Json }
  | { kind: 'text', text: string }
  | { kind: 'bytes', bytes: Uint8Array }
  | { kind: 'nested', depth: number, open: '[' | '{"a":' }
  | { kind: 'huge', text: string }

/** Bodies that try to pollute prototypes through the JSON parser. */
const POLLUTION = [
  '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}',
  '{"username":"a","password":"bbbbbbbb","__proto__":{"isAdmin":true}}',
  '{"username":{"__proto__":{"polluted":1}},"password":"x"}', '[{"__proto__":{"polluted":1}}]',
  '{"\\u005f_proto__":{"polluted":1}}', '{"__proto__":null}', '{"a":{"constructor":{"prototype":{"polluted":1}}}}'
]

/**
 * A username and a password that are often right or at least valid, plus a few hostile extras:
 * so that registrations and logins succeed now and then, and the checks after the schema are reached.
 */
const plausibleEntries: fc.Arbitrary<Array<[string, ValueSpec]>> = fc.tuple(
  fc.oneof(
    { weight: 2, arbitrary: fc.record({ username: fc.nat(), upper: fc.boolean() }) },
    { weight: 2, arbitrary: fc.stringMatching(/^[\p{L}\p{N}@.+_-]{1,30}$/u).map((literal): ValueSpec => ({ literal })) },
    { weight: 1, arbitrary: valueArb }
  ),
  fc.oneof(
    { weight: 2, arbitrary: fc.constant({ password: true as const }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 8, maxLength: 30 }).map((literal): ValueSpec => ({ literal })) },
    { weight: 1, arbitrary: valueArb }
  ),
  fc.oneof(fc.constant([]), fc.array(fc.tuple(keyArb, valueArb), { maxLength: 2 }))
).map(([username, password, extras]) => [['username', username], ['password', password], ...extras])

export const bodyArb: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('fields' as const), entries: plausibleEntries, cut: fc.constant(null) }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('fields' as const),
      entries: fc.array(fc.tuple(keyArb, valueArb), { maxLength: 5 }),
      cut: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() })
    })
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json> }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('text' as const),
      text: fc.oneof(fc.constantFrom(...POLLUTION), hostileString, fc.constantFrom('{', '}', '{"username":', '{"a":1}garbage', '\ufeff{}', '{}\u0000', 'username=a&password=b', '{"username":"a" "password":"b"}', '{"a":1e99999}', "{'a':1}"))
    })
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('nested' as const), depth: fc.integer({ min: 1, max: 9000 }), open: fc.constantFrom('[' as const, '{"a":' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge' as const), text: hugeString(40_000) }) }
)

function nestedJson (depth: number, open: '[' | '{"a":'): string {
  return open.repeat(depth) + (open === '[' ? ']' : '}').repeat(depth)
}

/**
 * The body as sent. On POST /auth/password a known password stands for a *wrong* one there: the
 * current password must never be right (see the policy in the test).
 */
function resolveValue (spec: ValueSpec, fixture: Fixture, route: Route | undefined): string {
  if ('literal' in spec) return JSON.stringify(spec.literal)
  if ('username' in spec) {
    const { username } = pick(fixture.users, spec.username)
    return JSON.stringify(spec.upper ? username.toUpperCase() : username)
  }
  if ('password' in spec) return JSON.stringify(route?.kind === 'password' ? `${fixture.password}!` : fixture.password)
  if ('huge' in spec) return JSON.stringify(spec.huge)
  return nestedJson(spec.nested, spec.open)
}

function resolveBody (spec: BodySpec, fixture: Fixture, route: Route | undefined): string | Buffer | undefined {
  switch (spec.kind) {
    case 'none': return undefined
    case 'fields': {
      const text = `{${spec.entries.map(([key, value]) => `${JSON.stringify(key)}:${resolveValue(value, fixture, route)}`).join(',')}}`
      return spec.cut === null ? text : text.slice(0, spec.cut % text.length)
    }
    case 'json': return JSON.stringify(spec.value)
    case 'text': return spec.text
    case 'bytes': return Buffer.from(spec.bytes)
    case 'nested': return nestedJson(spec.depth, spec.open)
    case 'huge': return spec.text
  }
}

const contentTypeArb: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom(
        'APPLICATION/JSON', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/json;', 'application/jsonx',
        'application/json-patch+json', 'application/vnd.api+json', 'text/plain', 'text/html', 'text/json', 'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=xyz', 'application/octet-stream', '', '*/*', 'application/*', 'json', ';', 'application/json, text/plain',
        'application/json\u0000', 'application/json; charset="utf-8"; boundary=x', 'application/json ; charset=utf-8', ' application/json'
      ),
      hostileString,
      hugeString(2000)
    )
  }
)

// ---------------------------------------------------------------------------------------------
// Other headers

const HEADER_NAMES = [
  'user-agent', 'accept', 'accept-encoding', 'accept-language', 'content-encoding', 'x-forwarded-for', 'x-forwarded-proto',
  'x-real-ip', 'forwarded', 'cookie', 'origin', 'referer', 'x-request-id', 'if-none-match', 'range', 'x-http-method-override',
  'proxy-authorization', 'x-api-key', 'expect', 'te', 'upgrade'
]

const headerValueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 1, arbitrary: hugeString(10 * 1024) },
  { weight: 1, arbitrary: fc.constantFrom('Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/127.0', 'curl/8.5.0', 'gzip, deflate, br', '127.0.0.1, 10.0.0.1', 'for=1.2.3.4', 'bytes=0-1', 'DELETE') }
)

const extraHeadersArb: fc.Arbitrary<Array<[string, string]>> = fc.array(
  fc.tuple(fc.oneof(fc.constantFrom(...HEADER_NAMES), fc.stringMatching(/^x-[a-z0-9-]{1,30}$/)), headerValueArb),
  { maxLength: 4 }
)

// ---------------------------------------------------------------------------------------------
// Requests

export interface RequestSpec {
  /** An index into ROUTES, or a random path. */
  target: { route: number, method: string | null, id: IdSpec, mutation: PathMutation } | { path: string, method: string }
  query: string | null
  auth: AuthSpec
  contentType: string | null
  body: BodySpec
  headers: Array<[string, string]>
}

const methodArb = fc.constantFrom(...METHODS)

const randomPathArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...ODD_PATHS),
  fc.array(
    fc.oneof(fc.constantFrom('auth', 'tokens', 'me', '..', '.', '%2e', '%00', '%zz', '__proto__', ''), hostileString.map(encodePathPart)),
    { minLength: 1, maxLength: 5 }
  ).map((segments) => `/${segments.join('/')}`)
)

const routeTargetArb = fc.record({
  route: fc.nat({ max: ROUTES.length - 1 }),
  method: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: methodArb }),
  id: idArb,
  mutation: pathMutationArb
})

const authWithValidArb = authArb(true)
const authWithoutValidArb = authArb(false)

/** Requests hostile in every part at once: most stop at the first check they meet. */
const scatteredArb: fc.Arbitrary<RequestSpec> = fc.oneof(
  { weight: 9, arbitrary: routeTargetArb },
  { weight: 1, arbitrary: fc.record({ path: randomPathArb, method: methodArb }) }
).chain((target) => fc.record({
  target: fc.constant(target),
  query: queryArb,
  auth: 'route' in target && mayCarryValidToken(ROUTES[target.route]) ? authWithValidArb : authWithoutValidArb,
  contentType: contentTypeArb,
  body: bodyArb,
  headers: extraHeadersArb
}))

/** The parts of a request that a focused case makes hostile, one to three at a time. */
const DIMENSIONS = ['method', 'path', 'query', 'auth', 'id', 'contentType', 'body', 'headers'] as const
type Dimension = typeof DIMENSIONS[number]

const fields = (...entries: Array<[string, fc.Arbitrary<ValueSpec>]>): fc.Arbitrary<Array<[string, ValueSpec]>> =>
  fc.tuple(...entries.map(([key, value]) => value.map((v): [string, ValueSpec] => [key, v])))

const literal = (arb: fc.Arbitrary<Json>): fc.Arbitrary<ValueSpec> => arb.map((value) => ({ literal: value }))

const BASELINE_BODIES: Record<string, fc.Arbitrary<Array<[string, ValueSpec]>>> = {
  '/auth/register': fields(
    ['username', literal(fc.stringMatching(/^[\p{L}\p{N}@.+_-]{1,30}$/u))],
    ['password', literal(fc.string({ unit: 'grapheme', minLength: 8, maxLength: 30 }))]),
  '/auth/login': fields(['username', fc.record({ username: fc.nat(), upper: fc.boolean() })], ['password', fc.constant({ password: true as const })]),
  // The known password stands for a wrong one here (resolveValue): the change must be refused.
  '/auth/password': fields(['currentPassword', fc.constant({ password: true as const })], ['newPassword', literal(fc.stringMatching(/^[a-z0-9]{8,20}$/))])
}

/** The body a well-behaved client sends to the route (none for the routes that take none). */
const baselineEntries = (route: Route): fc.Arbitrary<Array<[string, ValueSpec]>> | undefined => BASELINE_BODIES[route.path]

/** A baseline body with one field replaced, one hostile field added, or one dropped; or any hostile body. */
function hostileBody (route: Route): fc.Arbitrary<BodySpec> {
  const baseline = baselineEntries(route)
  if (baseline === undefined) return bodyArb
  const twisted = fc.tuple(baseline, fc.nat(), keyArb, valueArb, fc.constantFrom('replace', 'add', 'drop')).map(([entries, at, key, value, how]): BodySpec => {
    const i = at % entries.length
    const twistedEntries: Array<[string, ValueSpec]> =
      how === 'replace'
        ? entries.map(([k, v], j) => [k, j === i ? value : v])
        : how === 'add'
          ? [...entries, [key, value]]
          : entries.filter((_, j) => j !== i)
    return { kind: 'fields', entries: twistedEntries, cut: null }
  })
  return fc.oneof({ weight: 3, arbitrary: twisted }, { weight: 1, arbitrary: bodyArb })
}

const focusedCache = new Map<string, fc.Arbitrary<RequestSpec>>()

/** A valid request to `route`, with the given parts made hostile. */
function focusedOn (routeIndex: number, dimensions: readonly Dimension[]): fc.Arbitrary<RequestSpec> {
  const key = `${routeIndex}:${dimensions.join()}`
  const cached = focusedCache.get(key)
  if (cached !== undefined) return cached
  const route = ROUTES[routeIndex]!
  const hostile = (dimension: Dimension): boolean => dimensions.includes(dimension)
  const baselineBody = baselineEntries(route)
  const body: fc.Arbitrary<BodySpec> = hostile('body')
    ? hostileBody(route)
    : baselineBody === undefined ? fc.constant({ kind: 'none' }) : baselineBody.map((entries): BodySpec => ({ kind: 'fields', entries, cut: null }))
  const baselineAuth: fc.Arbitrary<AuthSpec> = mayCarryValidToken(route)
    ? fc.record({ kind: fc.constant('valid' as const), user: fc.nat(), token: fc.nat(), scheme: fc.constant('Token'), sep: fc.constant(' '), trail: fc.constant('') })
    : fc.record({ kind: fc.constant('revoked' as const), user: fc.nat(), scheme: fc.constant('Token'), sep: fc.constant(' '), trail: fc.constant('') })
  const arb = fc.record({
    target: fc.record({
      route: fc.constant(routeIndex),
      method: hostile('method') ? methodArb : fc.constant(null),
      // A known id is another user's session whenever the token is valid: see resolveId.
      id: hostile('id') ? idArb : fc.record({ kind: fc.constant('known' as const), user: fc.nat(), token: fc.nat(), variant: fc.constant('exact' as const) }),
      mutation: hostile('path') ? pathMutationArb.filter((m) => m !== 'none') : fc.constant('none' as const)
    }),
    query: hostile('query') ? queryArb.filter((q) => q !== null) : fc.constant(null),
    auth: hostile('auth') ? (mayCarryValidToken(route) ? authWithValidArb : authWithoutValidArb) : baselineAuth,
    contentType: hostile('contentType') ? contentTypeArb : fc.constant(baselineBody === undefined ? null : 'application/json'),
    body,
    headers: hostile('headers') ? extraHeadersArb.filter((h) => h.length > 0) : fc.constant<Array<[string, string]>>([])
  })
  focusedCache.set(key, arb)
  return arb
}

/**
 * Register, login and password change spend an argon2 computation (tens of milliseconds) on
 * every request that gets that far: they are picked less often, to keep the run short.
 */
const ARGON2_ROUTES = new Set(['/auth/register', '/auth/login', '/auth/password'])
const focusedRouteArb = fc.oneof(...ROUTES.map((route, i) => ({ weight: ARGON2_ROUTES.has(route.path) ? 1 : 4, arbitrary: fc.constant(i) })))

const focusedArb: fc.Arbitrary<RequestSpec> = fc.tuple(
  focusedRouteArb,
  fc.subarray([...DIMENSIONS], { minLength: 1, maxLength: 3 })
).chain(([route, dimensions]) => focusedOn(route, dimensions))

/**
 * Hostile requests of two kinds: focused (a valid request with one to three parts made hostile,
 * so that the deep checks — the handler, the database — are reached) and scattered (everything
 * hostile at once, so that every early check is hit from every side).
 */
export const requestArb: fc.Arbitrary<RequestSpec> = fc.oneof(
  { weight: 3, arbitrary: focusedArb },
  { weight: 2, arbitrary: scatteredArb }
)

export interface ResolvedRequest {
  method: string
  url: string
  route: Route | undefined
  headers: Record<string, string>
  payload: string | Buffer | undefined
  /** The known user whose valid token the request carries, if any. */
  validFor: number | undefined
}

export function resolveRequest (spec: RequestSpec, fixture: Fixture): ResolvedRequest {
  const route = 'route' in spec.target ? ROUTES[spec.target.route] : undefined
  const { value: authorization, validFor } = resolveAuth(spec.auth, fixture)
  if (validFor !== undefined && !mayCarryValidToken(route)) throw new Error('the generator gave a valid token to a revoking route')
  let path: string
  let method: string
  if ('route' in spec.target) {
    const base = route!.path.replace(':id', () => resolveId((spec.target as { id: IdSpec }).id, fixture, validFor))
    path = mutatePath(base, spec.target.mutation)
    method = spec.target.method ?? route!.method
  } else {
    path = spec.target.path
    method = spec.target.method
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of spec.headers) headers[name] = value
  if (authorization !== undefined) headers.authorization = authorization
  if (spec.contentType !== null) headers['content-type'] = spec.contentType
  return {
    method,
    url: spec.query === null ? path : `${path}?${spec.query}`,
    route,
    headers,
    payload: resolveBody(spec.body, fixture, route),
    validFor
  }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 requests, written byte by byte to a socket

export type Framing = 'length' | 'chunked' | 'twoLengths' | 'lengthAndChunked' | 'badChunk'

export interface RawSpec {
  request: RequestSpec
  /** Replaces the method with bytes the parser must refuse (or accept oddly). */
  method: string | null
  version: string
  host: boolean
  lineEnd: '\r\n' | '\n'
  framing: Framing
  /** Extra header lines as raw bytes (latin1 characters): control bytes, obs-fold, no colon… */
  rawLines: string[]
  /** A second Authorization header. */
  secondAuth: AuthSpec | null
  expect: string | null
}

const latin1String = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)), maxLength })

export const rawArb: fc.Arbitrary<RawSpec> = fc.record({
  request: requestArb,
  method: fc.oneof(
    { weight: 12, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom('get', 'G ET', '', 'GÉT', 'GET\u0000', 'CONNECT', 'PRI', 'HTTP/1.1', 'POST\t', 'X'.repeat(100)) }
  ),
  version: fc.oneof(
    { weight: 12, arbitrary: fc.constant('HTTP/1.1') },
    { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/11', '') }
  ),
  host: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  lineEnd: fc.oneof({ weight: 15, arbitrary: fc.constant('\r\n' as const) }, { weight: 1, arbitrary: fc.constant('\n' as const) }),
  framing: fc.oneof(
    { weight: 8, arbitrary: fc.constant('length' as const) },
    { weight: 3, arbitrary: fc.constant('chunked' as const) },
    { weight: 1, arbitrary: fc.constantFrom('twoLengths' as const, 'lengthAndChunked' as const, 'badChunk' as const) }
  ),
  rawLines: fc.array(fc.oneof(
    fc.tuple(fc.stringMatching(/^x-[a-z0-9]{1,8}$/), latin1String(30)).map(([n, v]) => `${n}: ${v}`),
    latin1String(30),
    fc.constantFrom('NoColon', ': empty-name', 'X Space: 1', 'X-Fold: a\r\n folded', 'Authorization: Token\r\n\tfolded', 'x-\u00e9: 1', 'Host: second.example', 'Content-Length: 0'),
    fc.integer({ min: 1000, max: 20_000 }).map((n) => `X-Big: ${'b'.repeat(n)}`)
  ), { maxLength: 3 }),
  secondAuth: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: authWithoutValidArb }),
  expect: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('100-continue', 'foo', '200-ok', '') })
})

export interface RawRequest {
  bytes: Buffer
  resolved: ResolvedRequest
  method: string
}

/** Characters of a header value as bytes: a JavaScript string beyond latin1 goes as its UTF-8. */
// eslint-disable-next-line no-control-regex -- a range from U+0000: everything latin1 can carry
const asBytes = (text: string): string => /[^\u0000-\u00ff]/.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text

export function resolveRaw (spec: RawSpec, fixture: Fixture): RawRequest {
  const resolved = resolveRequest(spec.request, fixture)
  const method = spec.method ?? resolved.method
  const eol = spec.lineEnd
  // The target goes as the bytes of its characters; fetch and node:http would escape or refuse them.
  const lines = [`${method} ${asBytes(resolved.url)}${spec.version === '' ? '' : ` ${spec.version}`}`]
  if (spec.host) lines.push('Host: 127.0.0.1')
  for (const [name, value] of Object.entries(resolved.headers)) lines.push(`${name}: ${asBytes(value)}`)
  if (spec.secondAuth !== null) {
    const second = resolveAuth(spec.secondAuth, fixture).value
    if (second !== undefined) lines.push(`Authorization: ${asBytes(second)}`)
  }
  if (spec.expect !== null) lines.push(`Expect: ${spec.expect}`)
  lines.push(...spec.rawLines)
  const body = resolved.payload === undefined ? Buffer.alloc(0) : Buffer.from(resolved.payload)
  let framed: Buffer = body
  switch (spec.framing) {
    case 'length':
      if (body.length > 0 || resolved.method === 'POST') lines.push(`Content-Length: ${body.length}`)
      break
    case 'chunked':
      lines.push('Transfer-Encoding: chunked')
      framed = Buffer.concat([
        body.length > 0 ? Buffer.from(`${body.length.toString(16)};ext=1\r\n`) : Buffer.alloc(0),
        body,
        body.length > 0 ? Buffer.from('\r\n') : Buffer.alloc(0),
        Buffer.from('0\r\n\r\n')
      ])
      break
    case 'twoLengths':
      lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`)
      break
    case 'lengthAndChunked':
      lines.push(`Content-Length: ${body.length}`, 'Transfer-Encoding: chunked')
      break
    case 'badChunk':
      lines.push('Transfer-Encoding: chunked')
      framed = Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')])
      break
  }
  lines.push('Connection: close')
  const head = Buffer.from(lines.join(eol) + eol + eol, 'latin1')
  return { bytes: Buffer.concat([head, framed]), resolved, method }
}
