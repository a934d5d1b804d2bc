import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildTestApp, me, register } from '../helpers/app.js'

const sliding = { autoRefresh: true, tokenTtl: 3000, minRefreshInterval: 1000 }

t.test('a token used every second with TTL 3 s lives past 6 s', async (t) => {
  const { app } = await buildTestApp(t, sliding)
  const { token } = await register(app)
  const start = Date.now()
  while (Date.now() - start < 7000) {
    t.equal((await me(app, token)).statusCode, 200, `alive at ${Date.now() - start} ms`)
    await sleep(1000)
  }
})

t.test('left unused, it dies after its TTL', async (t) => {
  const { app } = await buildTestApp(t, sliding)
  const { token } = await register(app)
  await sleep(3300)
  t.equal((await me(app, token)).statusCode, 401)
})

t.test('with a max TTL of 5 s it dies by 7 s however often it is used', async (t) => {
  const { app } = await buildTestApp(t, { ...sliding, autoRefreshMaxTtl: 5000 })
  const { token, expiry } = await register(app)
  const start = Date.now()
  t.ok(Date.parse(expiry!) - start <= 3000)
  let diedAt: number | undefined
  while (Date.now() - start < 7000) {
    if ((await me(app, token)).statusCode === 401) {
      diedAt = Date.now() - start
      break
    }
    await sleep(500)
  }
  t.ok(diedAt !== undefined && diedAt >= 4500 && diedAt <= 7000, `died at ${diedAt} ms`)
})

t.test('without auto-refresh, use does not move the expiry', async (t) => {
  const { app } = await buildTestApp(t, { tokenTtl: 1500, minRefreshInterval: 100 })
  const { token, tokenId, expiry } = await register(app)
  await sleep(200)
  await me(app, token)
  const row = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('expires_at').where('id', '=', tokenId).executeTakeFirstOrThrow()
  t.equal(row.expires_at, Date.parse(expiry!))
})

t.test('a sliding token slides by its own lifetime, not the configured one (audit item 11)', async (t) => {
  const { app } = await buildTestApp(t, { autoRefresh: true, tokenTtl: 10 * 3_600_000, minRefreshInterval: 100 })
  const { user } = await register(app)
  const short = await app.tessera.tokens.issue(user, { device: 'ci', ttl: 120_000 })
  const long = await app.tessera.tokens.issue(user, { device: 'laptop', ttl: 30 * 86_400_000 })
  t.ok(Date.parse(long.expiry!) - Date.now() > 29 * 86_400_000, 'a 30-day token is not cut to the configured 10 h')
  await sleep(150)
  for (const issued of [short, long]) t.equal((await me(app, issued.token)).statusCode, 200)
  await new Promise((resolve) => setImmediate(resolve)) // uses are written at the end of their turn
  const expiryOf = async (id: string) => Number((await app.tessera.database.kysely.selectFrom('tessera_tokens')
    .select('expires_at').where('id', '=', id).executeTakeFirstOrThrow()).expires_at)
  const now = Date.now()
  const shortLeft = await expiryOf(short.tokenId) - now
  const longLeft = await expiryOf(long.tokenId) - now
  t.ok(shortLeft > 100_000 && shortLeft <= 120_000, `the 2-minute token slid by 2 minutes (${shortLeft} ms left), not by 10 h`)
  t.ok(longLeft > 29 * 86_400_000, `the 30-day token slid by 30 days (${longLeft} ms left)`)
})

t.test('a sliding cap also bounds a token asked never to expire', async (t) => {
  const { app } = await buildTestApp(t, { autoRefresh: true, tokenTtl: 60_000, autoRefreshMaxTtl: 86_400_000 })
  const { user } = await register(app)
  const { expiry } = await app.tessera.tokens.issue(user, { device: 'ci', ttl: null })
  t.ok(expiry !== null && Date.parse(expiry) - Date.now() <= 86_400_000, `expires by the cap: ${expiry}`)
})
