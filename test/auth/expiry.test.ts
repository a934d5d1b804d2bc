import t from 'tap'
import { AUTH_FAILURES } from '../../src/tokens/failures.js'
import { buildTestApp, me, register } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

t.test('a token dies at its expiry; presenting it then deletes it, and it stays TOKEN_EXPIRED', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { tokenTtl: 3_600_000, clock: clock.now })
  const { token, tokenId, expiry } = await register(app)
  t.equal(expiry, new Date(clock.now() + 3_600_000).toISOString(), 'expiry is the TTL from now')
  clock.advance(3_599_999)
  t.equal((await me(app, token)).statusCode, 200, 'alive until its expiry')
  clock.advance(1)
  const response = await me(app, token)
  t.equal(response.statusCode, 401)
  t.same(response.json(), { statusCode: 401, error: 'Unauthorized', message: AUTH_FAILURES.expired, code: 'TOKEN_EXPIRED' })
  t.equal(response.headers['www-authenticate'], `Token error="invalid_token", error_description="${AUTH_FAILURES.expired}"`)
  const row = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('id').where('id', '=', tokenId).executeTakeFirst()
  t.equal(row, undefined, 'the expired row is gone')
  t.equal((await me(app, token)).json().code, 'TOKEN_EXPIRED', 'presented again, it is still expired (its tombstone)')
})

t.test('with TTL none, tokens never expire and expiry is null', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_TOKEN_TTL: 'none' })
  const { token, tokenId, expiry } = await register(app)
  t.equal(expiry, null)
  t.equal((await me(app, token)).statusCode, 200)
  const row = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('expires_at').where('id', '=', tokenId).executeTakeFirstOrThrow()
  t.equal(row.expires_at, null)
})

t.test('the default TTL is 10 hours', async (t) => {
  const { app } = await buildTestApp(t)
  const before = Date.now()
  const { expiry } = await register(app)
  const ttl = Date.parse(expiry!) - before
  t.ok(ttl > 10 * 3600_000 - 5000 && ttl <= 10 * 3600_000 + 5000, `ttl ${ttl} ms`)
})
