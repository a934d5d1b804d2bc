/**
 * The PostgreSQL token lookup batches: the requests of one event-loop turn are looked up in one
 * query, a named statement, and each still gets its own answer — the live, the unknown, the
 * revoked, and the same token twice. Only a token that is not live costs a second query, its
 * tombstone's. The queries are counted on the application's own pg.Pool, passed to tessera, as
 * they leave for the server.
 */
import Fastify from 'fastify'
import pg from 'pg'
import t from 'tap'
import tessera, { openDatabase } from '../../src/index.js'
import { LOOKUP_STATEMENT_NAME, TOMBSTONE_STATEMENT_NAME } from '../../src/tokens/postgres-lookup.js'
import { TEST_DIALECT, auth, freshDatabaseUrl, me, register, type TestContext } from '../helpers/app.js'

/** Queries that look tokens (and tombstones) up by digest, as sent through the pool: their names (`undefined`: unnamed). */
interface Sent {
  lookups: Array<string | undefined>
  tombstones: Array<string | undefined>
}

async function appOnCountedPool (t: TestContext & { teardown: (fn: () => unknown) => void }): Promise<{ app: ReturnType<typeof Fastify>, sent: Sent }> {
  const pool = new pg.Pool({ connectionString: freshDatabaseUrl(t).url, max: 4 })
  const sent: Sent = { lookups: [], tombstones: [] }
  const spied = new WeakSet<pg.PoolClient>()
  pool.on('acquire', (client) => {
    if (spied.has(client)) return
    spied.add(client)
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      const config = args[0] as string | { text: string, name?: string }
      const text = typeof config === 'string' ? config : config.text
      const name = typeof config === 'string' ? undefined : config.name
      if (/^select .*from "tessera_tokens" .*"digest" = /i.test(text)) sent.lookups.push(name)
      if (/^select .*from "tessera_token_tombstones" .*"digest" = /i.test(text)) sent.tombstones.push(name)
      return query(...args)
    }) as typeof client.query
  })
  const database = openDatabase(pool)
  const app = Fastify()
  await app.register(tessera, { database, loginRateLimit: null, tokenRateLimit: null, sweepInterval: null })
  t.teardown(async () => {
    await app.close()
    await database.close()
    await pool.end()
  })
  return { app, sent }
}

if (TEST_DIALECT !== 'postgres') {
  t.plan(0, 'the PostgreSQL lookup: run with TESSERA_TEST_DATABASE=postgres')
} else {
  t.test('50 concurrent requests with 50 tokens, and unknown ones, are answered right in fewer queries than requests', async (t) => {
    const { app, sent } = await appOnCountedPool(t)
    const { user, token: first } = await register(app)
    const tokens = [first]
    for (let i = 1; i < 50; i++) tokens.push((await app.tessera.tokens.issue(user, { device: `device ${i}` })).token)
    const unknown = Array.from({ length: 10 }, () => app.tessera.format.generate())
    // Every token used once, so that the burst writes no lastUsedAt (a write per token per minute).
    for (const token of tokens) t.equal((await me(app, token)).statusCode, 200)

    sent.lookups.length = 0
    sent.tombstones.length = 0
    const requests = [...tokens, ...unknown, tokens[0]!, tokens[1]!]
    const statuses = await Promise.all(requests.map(async (token) => (await me(app, token)).statusCode))
    t.same(statuses, [...tokens.map(() => 200), ...unknown.map(() => 401), 200, 200], 'each request gets its own answer')
    const queries = sent.lookups.length
    t.ok(queries >= 1 && queries < requests.length / 4, `${requests.length} requests looked up in ${queries} queries (one per event-loop turn)`)
    t.ok(sent.lookups.every((name) => name === LOOKUP_STATEMENT_NAME), `every lookup is the named statement ${LOOKUP_STATEMENT_NAME}`)
    t.same(sent.tombstones, unknown.map(() => TOMBSTONE_STATEMENT_NAME), 'a tombstone lookup for each unknown token alone, a named statement too')
    const bodies = await Promise.all(tokens.slice(0, 5).map(async (token) => (await me(app, token)).json<{ user: { id: number } }>()))
    t.same(bodies.map((body) => body.user.id), bodies.map(() => user.id), 'each the token\'s user')
  })

  t.test('a token revoked just before is refused in a batch with live ones', async (t) => {
    const { app, sent } = await appOnCountedPool(t)
    const { user, token: keeper } = await register(app)
    const issued = await Promise.all([1, 2, 3, 4].map(async (i) => await app.tessera.tokens.issue(user, { device: `device ${i}` })))
    for (const { token } of issued) t.equal((await me(app, token)).statusCode, 200)
    const [revoked, ...live] = issued
    const response = await app.inject({ method: 'DELETE', url: `/auth/tokens/${revoked!.tokenId}`, headers: auth(keeper) })
    t.equal(response.statusCode, 204)

    sent.lookups.length = 0
    const requests = [keeper, revoked!.token, ...live.map((issued) => issued.token), revoked!.token]
    const statuses = await Promise.all(requests.map(async (token) => (await me(app, token)).statusCode))
    t.same(statuses, [200, 401, 200, 200, 200, 401], 'the revoked token is refused, the others served')
    t.ok(sent.lookups.length < requests.length, `in one batch: ${requests.length} requests, ${sent.lookups.length} queries`)
  })
}
