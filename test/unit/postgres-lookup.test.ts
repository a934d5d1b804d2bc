/**
 * `PostgresTokenLookup` without a server: the lookups of one event-loop turn become one named
 * query with each digest once, each lookup gets its own row (or none), a failed query fails
 * every lookup of its batch, and the next turn queries again (nothing is kept between turns).
 * With a user store's join, the same query brings each token's user, and each request its own.
 */
import t from 'tap'
import { TokenFormat, tokenDigest } from '../../src/tokens/format.js'
import type { TokenRecord, UserJoin } from '../../src/tokens/lookup.js'
import { LOOKUP_STATEMENT_NAME, PostgresTokenLookup, lookupStatement, type NamedQuery } from '../../src/tokens/postgres-lookup.js'

const record = (id: string, subject = '1'): TokenRecord =>
  ({ id, subject, createdAt: 1, expiresAt: null, lastUsedAt: null, ttl: null, device: 'd', scopes: '*' })

/** A join of the users below, as a store would give it; the fake server reads its columns by name. */
const users = new Map([['1', { name: 'ada' }]])
const join: UserJoin<{ name: string }> = {
  name: 'fake_user',
  join: 'LEFT JOIN fake_users AS u ON u.id = t.subject',
  columns: ['u.id', 'u.name'],
  toUser: (row, at) => ({ name: row[at + 1] as string })
}

/**
 * A fake server holding `stored` (digest → record), whose rows are the token's columns in order,
 * its digest's position in the statement's (from 1), then a join's columns (`NULL` for a subject
 * without a user); records every statement.
 */
function fakeServer (stored: Map<string, TokenRecord>) {
  const sent: Array<{ name: string, digests: string[] }> = []
  let failure: Error | undefined
  const query: NamedQuery = async ({ name, text, values }) => {
    const digests = (values[0] as Buffer[]).map((digest) => digest.toString('binary'))
    sent.push({ name, digests })
    if (failure !== undefined) throw failure
    const joined = text.includes(join.join)
    const rows = digests.flatMap((digest, i) => {
      const found = stored.get(digest)
      if (found === undefined) return []
      const user = users.get(found.subject)
      return [[...Object.values(found), i + 1, ...(joined ? [user === undefined ? null : found.subject, user?.name ?? null] : [])]]
    }).reverse() // in no particular order
    return { fields: [], rows }
  }
  return { query, sent, fail: (error: Error | undefined) => { failure = error } }
}

const format = new TokenFormat('tsr_')
const digests = Array.from({ length: 4 }, () => tokenDigest(format.generate()))

t.test('one event-loop turn, one named query; each lookup its own answer', async (t) => {
  const stored = new Map([[digests[0]!, record('a')], [digests[1]!, record('b')]])
  const server = fakeServer(stored)
  const lookup = new PostgresTokenLookup(server.query, 'SELECT reason …')
  const found = await Promise.all([digests[0]!, digests[1]!, digests[2]!, digests[0]!].map(async (digest) => await lookup.find(digest)))
  t.same(found, [record('a'), record('b'), undefined, record('a')])
  t.same(Object.keys(found[0]!), Object.keys(record('a')), 'exactly the record\'s columns: the digest is not among them')
  t.same(server.sent, [{ name: LOOKUP_STATEMENT_NAME, digests: [digests[0], digests[1], digests[2]] }], 'one query, each digest once')

  stored.delete(digests[0]!)
  t.equal(await lookup.find(digests[0]!), undefined, 'the next turn asks again: nothing is kept')
  t.equal(server.sent.length, 2)
})

t.test('a failed query fails every lookup of its batch, and only those', async (t) => {
  const server = fakeServer(new Map([[digests[0]!, record('a')]]))
  const lookup = new PostgresTokenLookup(server.query, 'SELECT reason …')
  server.fail(new Error('Connection terminated unexpectedly'))
  const batch = [digests[0]!, digests[3]!].map(async (digest) => await lookup.find(digest))
  for (const pending of batch) await t.rejects(pending, /Connection terminated/)
  server.fail(undefined)
  t.same(await lookup.find(digests[0]!), record('a'), 'the next batch is served')
})

t.test('with a join, one query brings each token and its user, each request its own objects', async (t) => {
  const stored = new Map([[digests[0]!, record('a')], [digests[1]!, record('b', 'gone')]])
  const server = fakeServer(stored)
  const lookup = new PostgresTokenLookup(server.query, 'SELECT reason …')
  const found = await Promise.all([digests[0]!, digests[1]!, digests[2]!, digests[0]!].map(async (digest) => await lookup.findWithUser(digest, join)))
  t.same(found, [{ ...record('a'), user: { name: 'ada' } }, { ...record('b', 'gone'), user: null }, undefined, { ...record('a'), user: { name: 'ada' } }],
    'the user, null for a subject without one, nothing for an unknown token')
  t.not(found[0], found[3], 'the same token twice in a turn: two records…')
  t.not(found[0]!.user, found[3]!.user, '…and two users (a handler may change its request\'s)')
  t.same(server.sent, [{ name: lookupStatement(join).name, digests: [digests[0], digests[1], digests[2]] }], 'one query, the joined statement')
  t.equal(lookupStatement(join).name, `${LOOKUP_STATEMENT_NAME}_fake_user`, 'named apart from the plain lookup: another text')
  t.match(lookupStatement(join).text, /^WITH t AS MATERIALIZED \(SELECT .* FROM tessera_tokens .*\)\s+SELECT t\.id, .*, t\.i, u\.id, u\.name FROM t LEFT JOIN fake_users AS u ON u\.id = t\.subject$/s,
    'the tokens found first, then the join')

  users.delete('1')
  t.same(await lookup.findWithUser(digests[0]!, join), { ...record('a'), user: null }, 'the next turn asks again: a user gone is gone')
})

t.test('uses: one write out at a time, those recorded meanwhile in the next; flushUses waits for all recorded before it', async (t) => {
  const writes: Array<{ ids: string[], answer: () => void }> = []
  const query: NamedQuery = async ({ values }) => await new Promise((resolve) => {
    writes.push({ ids: values[0] as string[], answer: () => resolve({ fields: [], rows: [] }) })
  })
  const lookup = new PostgresTokenLookup(query, 'SELECT reason …')
  const use = (id: string): void => lookup.recordUse(record(id), 1, null, null, (error) => t.error(error))
  use('a')
  use('b')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(writes.map((write) => write.ids), [['a', 'b']], 'the uses of a turn in one write')
  use('c')
  await new Promise((resolve) => setImmediate(resolve))
  use('d')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(writes.length, 1, 'no second write while the first is out')
  let flushed = false
  const flushing = lookup.flushUses().then(() => { flushed = true })
  writes[0]!.answer()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(writes.map((write) => write.ids), [['a', 'b'], ['c', 'd']], 'its end sends what waited, together')
  use('e')
  t.notOk(flushed, 'not flushed before the write carrying its uses is answered')
  writes[1]!.answer()
  await flushing
  t.pass('flushed once c and d are written; e, recorded after, does not hold it back')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(writes[2]?.ids, ['e'])
  writes[2]!.answer()
  await lookup.close()
})
