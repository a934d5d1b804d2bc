/**
 * The PostgreSQL token lookup batches: the requests of one event-loop turn are looked up in one
 * query, a named statement, and each still gets its own answer — the live, the unknown, the
 * revoked, and the same token twice. With the built-in users, that query reads each token's user
 * too (no second query for the users), and still refuses a deactivated user's token on the very
 * next request; a subject that is not a user id finds no user instead of failing the query. Only a
 * token that is not live costs a second query, its tombstone's. A lookup held back behind the query
 * out is still answered when the database closes. The queries are counted on the application's own
 * pg.Pool, passed to tessera, as they leave for the server.
 */
import Fastify from 'fastify'
import { setImmediate as nextTurn } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import tessera, { openDatabase } from '../../src/index.js'
import { AUTH_FAILURES } from '../../src/tokens/failures.js'
import { TOMBSTONE_STATEMENT_NAME, lookupStatement } from '../../src/tokens/postgres-lookup.js'
import { TEST_DIALECT, auth, freshDatabaseUrl, me, register, type TestContext } from '../helpers/app.js'

/** Queries that look tokens (and tombstones, and users) up, as sent through the pool: their names (`undefined`: unnamed). */
interface Sent {
  lookups: Array<string | undefined>
  tombstones: Array<string | undefined>
  users: Array<string | undefined>
}

async function appOnCountedPool (t: TestContext & { teardown: (fn: () => unknown) => void }): Promise<{ app: ReturnType<typeof Fastify>, sent: Sent, pool: pg.Pool }> {
  const pool = new pg.Pool({ connectionString: freshDatabaseUrl(t).url, max: 4 })
  const sent: Sent = { lookups: [], tombstones: [], users: [] }
  const spied = new WeakSet<pg.PoolClient>()
  pool.on('acquire', (client) => {
    if (spied.has(client)) return
    spied.add(client)
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      const config = args[0] as string | { text: string, name?: string }
      const text = typeof config === 'string' ? config : config.text
      const name = typeof config === 'string' ? undefined : config.name
      if (/from tessera_tokens where digest = d\.digest/i.test(text)) sent.lookups.push(name)
      if (/^select .*from "tessera_token_tombstones" .*"digest" = /i.test(text)) sent.tombstones.push(name)
      if (/^select .*from "?tessera_users"? .*"?id"? = /i.test(text)) sent.users.push(name)
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
  return { app, sent, pool }
}

/** The name of the lookup that reads the built-in users with their tokens. */
const joinedLookup = (app: ReturnType<typeof Fastify>): string => lookupStatement(app.tessera.builtinUsers!.tokenJoin).name

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
    sent.users.length = 0
    const requests = [...tokens, ...unknown, tokens[0]!, tokens[1]!]
    const statuses = await Promise.all(requests.map(async (token) => (await me(app, token)).statusCode))
    t.same(statuses, [...tokens.map(() => 200), ...unknown.map(() => 401), 200, 200], 'each request gets its own answer')
    const queries = sent.lookups.length
    t.ok(queries >= 1 && queries < requests.length / 4, `${requests.length} requests looked up in ${queries} queries (one per event-loop turn)`)
    t.ok(sent.lookups.every((name) => name === joinedLookup(app)), `every lookup is the named statement ${joinedLookup(app)}`)
    t.same(sent.users, [], 'the users came with their tokens: no query of their own')
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

if (TEST_DIALECT === 'postgres') {
  t.test('the user read with the token: a deactivated user is refused on the very next request, and back once reactivated', async (t) => {
    const { app, sent, pool } = await appOnCountedPool(t)
    const { user, token } = await register(app)
    const other = await register(app)
    t.equal((await me(app, token)).statusCode, 200)
    // Set by hand (another instance, an older release, an operator's SQL): deactivate() would also revoke the tokens.
    await pool.query('UPDATE tessera_users SET deactivated_at = $1 WHERE id = $2', [Date.now(), user.id])
    sent.lookups.length = 0
    sent.users.length = 0
    const [refused, served] = await Promise.all([me(app, token), me(app, other.token)])
    t.equal(refused.statusCode, 401)
    t.same(refused.json(), { statusCode: 401, error: 'Unauthorized', message: AUTH_FAILURES.inactive, code: 'USER_INACTIVE' })
    t.equal(served.statusCode, 200, 'another user\'s token in the same turn is served')
    t.equal(served.json<{ user: { id: number } }>().user.id, other.user.id)
    t.same(sent.lookups, [joinedLookup(app)], 'one query for the turn, the joined one')
    t.same(sent.users, [], 'and none for the users')
    await pool.query('UPDATE tessera_users SET deactivated_at = NULL WHERE id = $1', [user.id])
    const back = await me(app, token)
    t.equal(back.statusCode, 200, 'reactivated by hand, the token works again on the next request')
    t.same(back.json<{ user: unknown }>().user, user)
  })

  t.test('a token whose subject is not a user id finds no user (401 USER_INACTIVE), and does not fail its turn', async (t) => {
    const { app, sent, pool } = await appOnCountedPool(t)
    const { user, token: live } = await register(app)
    // Subjects an application's users, or a row written by hand, could leave: none is a built-in user's id.
    const subjects = ['alice', '0', '-1', '01', ' 1', '1.0', '1e3', '2147483648', '99999999999', `${user.id} `, '']
    const odd: string[] = []
    for (const [i, subject] of subjects.entries()) {
      const { token, tokenId } = await app.tessera.tokens.issue(user, { device: `odd ${i}` })
      await pool.query('UPDATE tessera_tokens SET subject = $1 WHERE id = $2', [subject, tokenId])
      odd.push(token)
    }
    sent.lookups.length = 0
    const responses = await Promise.all([live, ...odd, live].map(async (token) => await me(app, token)))
    t.same(responses.map((response) => response.statusCode), [200, ...odd.map(() => 401), 200], 'the live token served beside them')
    for (const [i, response] of responses.slice(1, -1).entries()) {
      t.equal(response.json<{ code: string }>().code, 'USER_INACTIVE', `subject ${JSON.stringify(subjects[i])}`)
    }
    t.ok(sent.lookups.length < responses.length, `in few queries: ${responses.length} requests, ${sent.lookups.length} queries`)
  })
}

if (TEST_DIALECT === 'postgres') {
  t.test('closing the database answers the lookups still waiting, one held back behind the query out too', async (t) => {
    // A database tessera opened itself: closing it ends its pool.
    const database = openDatabase(freshDatabaseUrl(t).url)
    const app = Fastify()
    await app.register(tessera, { database, loginRateLimit: null, tokenRateLimit: null, sweepInterval: null })
    t.teardown(async () => await app.close())
    const { token, user } = await register(app)
    const first = app.tessera.tokens.verify(token)
    await nextTurn() // its query is out
    const held = app.tessera.tokens.verify(token) // waits for that query to answer
    await nextTurn()
    const closed = database.close()
    const answers = await Promise.all([first, held])
    await closed
    t.same(answers.map((answer) => answer?.user.id), [user.id, user.id], 'both answered before the pool ended')
  })
}
