/**
 * `PostgresTokenLookup` without a server: the lookups of one event-loop turn become one named
 * query with each digest once, each lookup gets its own row (or none), a failed query fails
 * every lookup of its batch, and the next turn queries again (nothing is kept between turns).
 */
import t from 'tap'
import { TokenFormat, tokenDigest } from '../../src/tokens/format.js'
import type { TokenRecord } from '../../src/tokens/lookup.js'
import { LOOKUP_STATEMENT_NAME, PostgresTokenLookup, type NamedQuery } from '../../src/tokens/postgres-lookup.js'

const FIELDS = ['id', 'subject', 'createdAt', 'expiresAt', 'lastUsedAt', 'ttl', 'device', 'scopes', 'digest'].map((name) => ({ name }))
const record = (id: string): TokenRecord =>
  ({ id, subject: '1', createdAt: 1, expiresAt: null, lastUsedAt: null, ttl: null, device: 'd', scopes: '*' })

/** A fake server holding `stored` (digest → record); records every statement it is sent. */
function fakeServer (stored: Map<string, TokenRecord>) {
  const sent: Array<{ name: string, digests: string[] }> = []
  let failure: Error | undefined
  const query: NamedQuery = async ({ name, values }) => {
    const digests = (values[0] as Buffer[]).map((digest) => digest.toString('binary'))
    sent.push({ name, digests })
    if (failure !== undefined) throw failure
    const rows = digests.flatMap((digest) => {
      const found = stored.get(digest)
      return found === undefined ? [] : [[...Object.values(found), Buffer.from(digest, 'binary')]]
    })
    return { fields: FIELDS, rows }
  }
  return { query, sent, fail: (error: Error | undefined) => { failure = error } }
}

const format = new TokenFormat('tsr_')
const digests = Array.from({ length: 4 }, () => tokenDigest(format.generate()))

t.test('one event-loop turn, one named query; each lookup its own answer', async (t) => {
  const stored = new Map([[digests[0]!, record('a')], [digests[1]!, record('b')]])
  const server = fakeServer(stored)
  const lookup = new PostgresTokenLookup(server.query, 'SELECT …', 'SELECT reason …')
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
  const lookup = new PostgresTokenLookup(server.query, 'SELECT …', 'SELECT reason …')
  server.fail(new Error('Connection terminated unexpectedly'))
  const batch = [digests[0]!, digests[3]!].map(async (digest) => await lookup.find(digest))
  for (const pending of batch) await t.rejects(pending, /Connection terminated/)
  server.fail(undefined)
  t.same(await lookup.find(digests[0]!), record('a'), 'the next batch is served')
})
