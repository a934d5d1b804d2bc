/**
 * Sliding expiry (`autoRefresh`), on a clock the test moves: seconds of a token's life pass at
 * once, and every instant is exact.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp, me, register } from '../helpers/app.js'
import { testClock } from '../helpers/clock.js'

const MINUTE = 60_000
const sliding = { autoRefresh: true, tokenTtl: 3 * MINUTE, minRefreshInterval: MINUTE }

/** A use of the token, written before the test goes on (uses are written after their turn; on PostgreSQL by a query of their own). */
async function use (app: FastifyInstance, token: string): Promise<number> {
  const { statusCode } = await me(app, token)
  await app.tessera.database.tokenLookup.flushUses()
  return statusCode
}

const iso = (epochMs: number): string => new Date(epochMs).toISOString()

t.test('a token used every minute with TTL 3 min lives past 6 min', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { ...sliding, clock: clock.now })
  const { token } = await register(app)
  for (let minutes = 0; minutes < 7; minutes++) {
    const response = await me(app, token)
    t.equal(response.statusCode, 200, `alive at ${minutes} min`)
    t.equal(response.json().session.expiry, iso(clock.now() + 3 * MINUTE), `slid to ${minutes + 3} min`)
    await app.tessera.database.tokenLookup.flushUses()
    clock.advance(MINUTE)
  }
})

t.test('left unused, it dies after its TTL', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { ...sliding, clock: clock.now })
  const { token } = await register(app)
  clock.advance(3 * MINUTE)
  t.equal((await me(app, token)).statusCode, 401)
})

t.test('with a max TTL of 5 min it dies by 7 min however often it is used', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { ...sliding, autoRefreshMaxTtl: 5 * MINUTE, clock: clock.now })
  const { token, expiry } = await register(app)
  t.equal(expiry, iso(clock.now() + 3 * MINUTE), 'issued for its TTL, under the cap')
  let diedAt: number | undefined
  for (let elapsed = 0; elapsed < 7 * MINUTE; elapsed += MINUTE / 2) {
    if (await use(app, token) === 401) {
      diedAt = elapsed
      break
    }
    clock.advance(MINUTE / 2)
  }
  t.equal(diedAt, 5 * MINUTE, 'it died at its cap, 5 min after its creation, having slid until then')
})

t.test('without auto-refresh, use does not move the expiry', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { tokenTtl: 3 * MINUTE, minRefreshInterval: MINUTE, clock: clock.now })
  const { token, tokenId, expiry } = await register(app)
  clock.advance(2 * MINUTE)
  t.equal(await use(app, token), 200)
  const row = await app.tessera.database.kysely.selectFrom('tessera_tokens').select(['expires_at', 'last_used_at']).where('id', '=', tokenId).executeTakeFirstOrThrow()
  t.equal(Number(row.last_used_at), clock.now(), 'the use was written')
  t.equal(Number(row.expires_at), Date.parse(expiry!), 'and the expiry left as issued')
})

t.test('a sliding token slides by its own lifetime, not the configured one (audit item 11)', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { autoRefresh: true, tokenTtl: 10 * 3_600_000, minRefreshInterval: MINUTE, clock: clock.now })
  const { user } = await register(app)
  const short = await app.tessera.tokens.issue(user, { device: 'ci', ttl: 120_000 })
  const long = await app.tessera.tokens.issue(user, { device: 'laptop', ttl: 30 * 86_400_000 })
  t.equal(long.expiry, iso(clock.now() + 30 * 86_400_000), 'a 30-day token is not cut to the configured 10 h')
  clock.advance(MINUTE)
  for (const issued of [short, long]) t.equal(await use(app, issued.token), 200)
  const expiryOf = async (id: string) => Number((await app.tessera.database.kysely.selectFrom('tessera_tokens')
    .select('expires_at').where('id', '=', id).executeTakeFirstOrThrow()).expires_at)
  t.equal(await expiryOf(short.tokenId) - clock.now(), 120_000, 'the 2-minute token slid by 2 minutes, not by 10 h')
  t.equal(await expiryOf(long.tokenId) - clock.now(), 30 * 86_400_000, 'the 30-day token slid by 30 days')
})

t.test('a sliding cap also bounds a token asked never to expire', async (t) => {
  const clock = testClock()
  const { app } = await buildTestApp(t, { autoRefresh: true, tokenTtl: 60_000, autoRefreshMaxTtl: 86_400_000, clock: clock.now })
  const { user } = await register(app)
  const { expiry } = await app.tessera.tokens.issue(user, { device: 'ci', ttl: null })
  t.equal(expiry, iso(clock.now() + 86_400_000), 'expires by the cap')
})
