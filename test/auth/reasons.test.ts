/**
 * A revoked or expired token stays recognisable: each way of revoking one leaves a tombstone, and
 * the token presented again is told `TOKEN_REVOKED` with its `reason`, or `TOKEN_EXPIRED`, every
 * time, for the revocation memory (30 days by default); after it, `TOKEN_INVALID`. Time is moved
 * by rewriting the stored instants, never by sleeping.
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { AUTH_FAILURES, REVOCATION_REASONS, type RevocationReason } from '../../src/tokens/failures.js'
import { PASSWORD, auth, buildTestApp, login, me, register, uniqueName } from '../helpers/app.js'

const DAY = 24 * 3600_000

/** What a refused token is told: the body and the challenge. */
async function refusal (app: FastifyInstance, token: string): Promise<{ status: number, body: Record<string, unknown>, challenge: unknown }> {
  const response = await me(app, token)
  return { status: response.statusCode, body: response.json(), challenge: response.headers['www-authenticate'] }
}

function revokedBody (reason: RevocationReason): Record<string, unknown> {
  return { statusCode: 401, error: 'Unauthorized', message: REVOCATION_REASONS[reason], code: 'TOKEN_REVOKED', reason }
}

const EXPIRED = { statusCode: 401, error: 'Unauthorized', message: AUTH_FAILURES.expired, code: 'TOKEN_EXPIRED' }
const INVALID = { statusCode: 401, error: 'Unauthorized', message: AUTH_FAILURES.unknown, code: 'TOKEN_INVALID' }

/** Moves a token's expiry into the past, as if its time had come. */
async function expire (app: FastifyInstance, tokenId: string, ago = 1000): Promise<void> {
  // The uses still waiting to be written would write the expiry back.
  await app.tessera.database.tokenLookup.flushUses()
  await app.tessera.database.kysely.updateTable('tessera_tokens').set({ expires_at: Date.now() - ago }).where('id', '=', tokenId).execute()
}

/** Moves every tombstone `ms` into the past. */
async function age (app: FastifyInstance, ms: number): Promise<void> {
  const db = app.tessera.database.kysely
  await db.updateTable('tessera_token_tombstones').set((eb) => ({ ended_at: eb('ended_at', '-', ms) })).execute()
}

async function tombstoneCount (app: FastifyInstance): Promise<number> {
  return (await app.tessera.database.kysely.selectFrom('tessera_token_tombstones').select('reason').execute()).length
}

t.test('each way a token is revoked is told as its reason, every time it is presented', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 2, tokenLimitPolicy: 'evict-oldest' })
  const told = async (token: string, reason: RevocationReason): Promise<void> => {
    for (const time of ['first', 'second']) {
      const { status, body, challenge } = await refusal(app, token)
      t.equal(status, 401, `${reason}: ${time} time`)
      t.same(body, revokedBody(reason), `${reason}: ${time} time`)
      t.equal(challenge, `Token error="invalid_token", error_description="${REVOCATION_REASONS[reason]}"`, `${reason}: WWW-Authenticate`)
    }
  }
  const username = uniqueName()
  const first = await register(app, username)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(first.token) })
  await told(first.token, 'logout')

  const [a, b] = [await login(app, username), await login(app, username)]
  await app.inject({ method: 'POST', url: '/auth/logoutall', headers: auth(a.token) })
  await told(a.token, 'logout_all')
  await told(b.token, 'logout_all')

  const [c, d] = [await login(app, username), await login(app, username)]
  t.equal((await app.inject({ method: 'POST', url: '/auth/logoutothers', headers: auth(c.token) })).statusCode, 204)
  await told(d.token, 'logout_others')

  const e = await login(app, username)
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/tokens/${e.tokenId}`, headers: auth(c.token) })).statusCode, 204)
  await told(e.token, 'revoked')

  const f = await login(app, username)
  const changed = await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(c.token), payload: { currentPassword: PASSWORD, newPassword: 'a brand new password' }
  })
  t.equal(changed.statusCode, 204)
  await told(f.token, 'password_changed')
  t.equal((await me(app, c.token)).statusCode, 200, 'the token that changed it lives')

  // The limit is 2: with c and g live, h evicts the least recently used of them.
  const g = await login(app, username, 'a brand new password')
  const h = await login(app, username, 'a brand new password')
  const live = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(h.token) })).json().map((session: { id: string }) => session.id)
  const evicted = [c, g].filter((issued) => !live.includes(issued.tokenId))
  t.equal(evicted.length, 1)
  await told(evicted[0]!.token, 'evicted')

  await app.tessera.builtinUsers!.deactivate(first.user.id)
  await told(h.token, 'user_deactivated')
})

t.test('an embedding application revokes with a reason of its own; the defaults are revoked and logout_all', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const a = await register(app, username)
  const [b, c, d] = [await login(app, username), await login(app, username), await login(app, username)]
  const subject = String(a.user.id)
  t.equal(await app.tessera.tokens.revoke(a.tokenId), true)
  t.same((await refusal(app, a.token)).body, revokedBody('revoked'))
  t.equal(await app.tessera.tokens.revoke(b.tokenId, { reason: 'password_changed' }), true)
  t.same((await refusal(app, b.token)).body, revokedBody('password_changed'))
  t.equal(await app.tessera.tokens.revokeAll(subject, { except: d.tokenId }), 1)
  t.same((await refusal(app, c.token)).body, revokedBody('logout_others'))
  t.equal(await app.tessera.tokens.revokeAll(subject, { reason: 'user_deactivated' }), 1)
  t.same((await refusal(app, d.token)).body, revokedBody('user_deactivated'))
  t.equal(await app.tessera.tokens.verify(d.token), null, 'verify still answers null')
  const e = await login(app, username)
  t.equal(await app.tessera.tokens.revokeAll(subject), 1)
  t.same((await refusal(app, e.token)).body, revokedBody('logout_all'))
})

t.test('the same revoked token presented three times in parallel is told the same reason each time', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  await register(app, username)
  const phone = await login(app, username)
  const laptop = await login(app, username)
  await app.inject({ method: 'DELETE', url: `/auth/tokens/${phone.tokenId}`, headers: auth(laptop.token) })
  const answers = await Promise.all([1, 2, 3].map(async () => await refusal(app, phone.token)))
  t.same(answers.map((answer) => answer.body), [revokedBody('revoked'), revokedBody('revoked'), revokedBody('revoked')])
})

t.test('an expired token is TOKEN_EXPIRED every time, three parallel first presentations included', async (t) => {
  const { app } = await buildTestApp(t)
  const { token, tokenId } = await register(app)
  t.equal((await me(app, token)).statusCode, 200)
  await expire(app, tokenId)
  const first = await Promise.all([1, 2, 3].map(async () => await refusal(app, token)))
  t.same(first.map((answer) => answer.body), [EXPIRED, EXPIRED, EXPIRED], 'an app waking up: three requests, three "expired"')
  t.equal(first[0]!.challenge, `Token error="invalid_token", error_description="${AUTH_FAILURES.expired}"`)
  const row = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('id').where('id', '=', tokenId).executeTakeFirst()
  t.equal(row, undefined, 'the expired token is deleted')
  for (const time of ['again', 'and again']) t.same((await refusal(app, token)).body, EXPIRED, time)
  t.equal(await tombstoneCount(app), 1, 'one tombstone, whatever the number of presentations')
})

t.test('a token revoked after it had expired is told it expired: that came first', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const { token, tokenId } = await register(app, username)
  const other = await login(app, username)
  await expire(app, tokenId)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logoutall', headers: auth(other.token) })).statusCode, 204)
  t.same((await refusal(app, token)).body, EXPIRED)
  t.same((await refusal(app, other.token)).body, revokedBody('logout_all'))
})

t.test('an expired token swept before it is ever presented is still TOKEN_EXPIRED (sweep and purge)', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName()
  const { token, tokenId } = await register(app, username)
  const live = await login(app, username)
  await expire(app, tokenId, 3600_000)
  t.equal(await app.tessera.tokens.sweep(), 1)
  const rows = await app.tessera.database.kysely.selectFrom('tessera_tokens').select('id').execute()
  t.same(rows.map((row) => row.id), [live.tokenId], 'the sweep deleted it')
  t.same((await refusal(app, token)).body, EXPIRED)
  t.equal((await me(app, live.token)).statusCode, 200, 'a live token is untouched')

  // Expired longer ago than the memory: the sweep leaves no tombstone for it.
  const old = await login(app, username)
  await expire(app, old.tokenId, 31 * DAY)
  t.equal(await app.tessera.tokens.sweep(), 1)
  t.equal(await tombstoneCount(app), 1)
  t.same((await refusal(app, old.token)).body, INVALID)
})

t.test('a token revoked 31 days ago is TOKEN_INVALID with the default memory; the sweep forgets its tombstone', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal(app.tessera.settings.revocationMemory, 30 * DAY, 'TESSERA_REVOCATION_MEMORY defaults to 30d')
  const username = uniqueName()
  const { token } = await register(app, username)
  const expiring = await login(app, username)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })
  await expire(app, expiring.tokenId)
  t.same((await refusal(app, expiring.token)).body, EXPIRED)

  await age(app, 29 * DAY)
  t.same((await refusal(app, token)).body, revokedBody('logout'), '29 days later: still remembered')
  t.same((await refusal(app, expiring.token)).body, EXPIRED)
  t.equal(await app.tessera.tokens.sweep(), 0)
  t.equal(await tombstoneCount(app), 2, 'the sweep keeps what is still remembered')

  await age(app, 2 * DAY)
  t.same((await refusal(app, token)).body, INVALID, '31 days later: forgotten, even before a sweep')
  t.same((await refusal(app, expiring.token)).body, INVALID)
  await app.tessera.tokens.sweep()
  t.equal(await tombstoneCount(app), 0, 'and the sweep deletes the tombstones')
})

t.test('TESSERA_REVOCATION_MEMORY sets the memory', async (t) => {
  const { app } = await buildTestApp(t, {}, { TESSERA_REVOCATION_MEMORY: '2h' })
  t.equal(app.tessera.settings.revocationMemory, 2 * 3600_000)
  const { token } = await register(app)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })
  await age(app, 3600_000)
  t.same((await refusal(app, token)).body, revokedBody('logout'), 'an hour later')
  await age(app, 3600_000)
  t.same((await refusal(app, token)).body, INVALID, 'two hours later')
})

t.test('tombstones are no sessions and never count toward the token limit', async (t) => {
  const { app } = await buildTestApp(t, { tokenLimitPerUser: 2 })
  const username = uniqueName()
  const first = await register(app, username)
  const second = await login(app, username)
  const refused = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'TOKEN_LIMIT_REACHED')
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(first.token) })
  const third = await login(app, username)
  const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(second.token) })).json()
  t.same(sessions.map((session: { id: string }) => session.id).sort(), [second.tokenId, third.tokenId].sort(), 'only live tokens are sessions')
  t.equal(await tombstoneCount(app), 1)
})

t.test('a tombstone keeps nothing but the digest of the token, when it ended and why', async (t) => {
  const { app } = await buildTestApp(t)
  const { token } = await register(app)
  const before = Date.now()
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(token) })
  const rows = await app.tessera.database.kysely.selectFrom('tessera_token_tombstones').selectAll().execute()
  t.equal(rows.length, 1)
  t.same(Object.keys(rows[0]!).sort(), ['digest', 'ended_at', 'reason'])
  t.equal(Buffer.from(rows[0]!.digest).toString('hex'), createHash('sha256').update(token).digest('hex'), 'the SHA-256 of the token')
  t.ok(rows[0]!.ended_at >= before && rows[0]!.ended_at <= Date.now())
  t.equal(rows[0]!.reason, 'logout')
})
