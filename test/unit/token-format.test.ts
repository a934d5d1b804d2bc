import type { Kysely } from 'kysely'
import { ActivityLog } from '../../src/activity/log.js'
import type { Tables } from '../../src/db/schema.js'
import { crc32 } from 'node:zlib'
import t from 'tap'
import Fastify from 'fastify'
import type { Database } from '../../src/db/database.js'
import { TesseraEmitter } from '../../src/events.js'
import { createAuthenticate, readToken } from '../../src/http/authenticate.js'
import { DEFAULT_SETTINGS } from '../../src/settings.js'
import { AuthenticationError } from '../../src/tokens/failures.js'
import { TokenFormat, tokenDigest } from '../../src/tokens/format.js'
import type { TokenLookup } from '../../src/tokens/lookup.js'
import { TokenService } from '../../src/tokens/service.js'
import type { TesseraUser } from '../../src/users/builtin/user.js'
import type { FastifyReply, FastifyRequest } from 'fastify'

t.test('tokens: prefix, 256-bit base62 secret, checksum', async (t) => {
  const format = new TokenFormat('tsr_')
  const tokens = Array.from({ length: 200 }, () => format.generate())
  t.equal(new Set(tokens).size, 200)
  for (const token of tokens) {
    t.match(token, /^tsr_[0-9A-Za-z]{49}$/)
    t.ok(format.isWellFormed(token))
  }
  t.equal(format.length, 4 + 43 + 6)
  t.ok(43 * Math.log2(62) >= 256, 'the secret carries at least 256 bits')
  t.ok(new TokenFormat('acme_pat_').generate().startsWith('acme_pat_'))
})

t.test('the checksum is the CRC-32 of prefix and secret, in 6 base62 digits (tokens already issued stay valid)', async (t) => {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
  for (const prefix of ['tsr_', 'acme_pat_', 'X']) {
    const token = new TokenFormat(prefix).generate()
    const body = token.slice(0, -6)
    const decoded = [...token.slice(-6)].reduce((value, c) => value * 62 + alphabet.indexOf(c), 0)
    t.equal(decoded, crc32(body), `${prefix}: zlib's CRC-32 of ${body}`)
  }
})

t.test('a flipped, dropped or added character fails the checksum', async (t) => {
  const format = new TokenFormat('tsr_')
  const token = format.generate()
  for (let i = 4; i < token.length; i++) {
    const c = token[i] === 'a' ? 'b' : 'a'
    t.notOk(format.isWellFormed(token.slice(0, i) + c + token.slice(i + 1)), `position ${i}`)
  }
  t.notOk(format.isWellFormed(token.slice(0, -1)))
  t.notOk(format.isWellFormed(token + 'a'))
  t.notOk(format.isWellFormed('xyz_' + token.slice(4)), 'another prefix')
  t.notOk(format.isWellFormed(token.slice(0, -1) + '-'), 'outside the alphabet')
})

t.test('a mistyped token is refused without a database lookup; a missing one costs a tombstone lookup', async (t) => {
  const format = new TokenFormat('tsr_')
  const token = format.generate()
  const digests: string[] = []
  const tombstones: string[] = []
  const tokenLookup: TokenLookup = {
    find: (digest) => { digests.push(digest); return undefined },
    findTombstone: (digest) => { tombstones.push(digest); return undefined },
    recordUse: () => {},
    flushUses: () => {},
    cacheOffReason: undefined,
    close: () => {}
  }
  const tokens = new TokenService<TesseraUser>({
    database: { tokenLookup, kysely: undefined } as unknown as Database,
    settings: DEFAULT_SETTINGS,
    users: { find: () => null, idOf: () => 'nobody' },
    format,
    events: new TesseraEmitter(),
    log: Fastify().log,
    activity: new ActivityLog(undefined as unknown as Kysely<Tables>)
  })
  const authenticate = createAuthenticate(tokens, 'user')
  const headers: Record<string, string> = {}
  const reply = { header: (name: string, value: string) => { headers[name] = value } } as unknown as FastifyReply
  const request = (authorization: string) => ({ headers: { authorization } }) as unknown as FastifyRequest

  const flipped = token.slice(0, -1) + (token.endsWith('a') ? 'b' : 'a')
  await t.rejects(authenticate(request(`Token ${flipped}`), reply), new AuthenticationError('malformed'))
  t.equal(digests.length, 0, 'no lookup for a bad checksum')
  t.equal(tombstones.length, 0)
  t.match(headers['www-authenticate'], /^Token error="invalid_token", error_description="Invalid token: /)

  await t.rejects(authenticate(request(`Token ${token}`), reply), new AuthenticationError('unknown'))
  t.same(digests, [tokenDigest(token)], 'a well-formed token is looked up, by its digest')
  t.same(tombstones, [tokenDigest(token)], 'and, not being live, its tombstone')
})

t.test('readToken', async (t) => {
  t.equal(readToken('Token abc'), 'abc')
  t.equal(readToken('Bearer abc'), 'abc')
  t.equal(readToken('token   abc  '), 'abc', 'surrounding spaces are not part of the token')
  t.throws(() => readToken(undefined), new AuthenticationError('missing'))
  t.throws(() => readToken('Token'), new AuthenticationError('noCredentials'))
  t.throws(() => readToken('Token a b'), new AuthenticationError('spaces'))
  t.throws(() => readToken('Basic abc'), new AuthenticationError('scheme'))
  t.throws(() => readToken('Token \u0000abc'), new AuthenticationError('characters'))
  t.throws(() => readToken('Token \tabc'), new AuthenticationError('characters'))
})
