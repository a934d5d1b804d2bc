/**
 * What the CLI revokes is told as such to the client still presenting it, on the running server:
 * `tessera token revoke` (`revoked`), `tessera token revoke-all` (`logout_all`), `tessera user
 * deactivate` (`user_deactivated`), `tessera user set-password` (`password_changed`), `tessera user
 * delete` (`revoked`); `tessera purge` keeps expired tokens `TOKEN_EXPIRED` and
 * forgets the tombstones older than the revocation memory.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { REVOCATION_REASONS, type RevocationReason } from '../../src/tokens/failures.js'
import { buildTestApp, login, me, register } from '../helpers/app.js'
import { cliFor } from '../helpers/cli.js'

const DAY = 24 * 3600_000

async function told (app: FastifyInstance, token: string): Promise<{ code: string, reason?: string, message: string }> {
  const response = await me(app, token)
  return response.json()
}

function revoked (reason: RevocationReason): { code: string, reason: string, message: string } {
  return { code: 'TOKEN_REVOKED', reason, message: REVOCATION_REASONS[reason] }
}

t.test('token revoke, token revoke-all and user deactivate: the server tells each token why', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const alice = await register(app, 'alice')
  const phone = await login(app, 'alice')

  t.equal((await cli(['token', 'revoke', phone.tokenId])).code, 0)
  t.match(await told(app, phone.token), revoked('revoked'), 'token revoke')

  const laptop = await login(app, 'alice')
  t.equal((await cli(['token', 'revoke-all', 'alice'])).code, 0)
  for (const { token } of [alice, laptop]) t.match(await told(app, token), revoked('logout_all'), 'token revoke-all')

  const tablet = await login(app, 'alice')
  const result = await cli(['user', 'deactivate', 'alice'])
  t.equal(result.code, 0, result.stderr)
  t.match(await told(app, tablet.token), revoked('user_deactivated'), 'user deactivate')
  t.match(await told(app, phone.token), revoked('revoked'), 'an earlier revocation keeps its own reason')
  const signIn = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'correct horse battery' } })
  t.equal(signIn.json().code, 'USER_INACTIVE', 'and the right password is told the user is deactivated')
})

t.test('user set-password, user reactivate and user delete: their revoked tokens say why too', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  const carol = await register(app, 'carol')
  const reset = await cli(['user', 'set-password', 'carol'], { input: 'a password set by an operator' })
  t.equal(reset.code, 0, reset.stderr)
  t.match(await told(app, carol.token), revoked('password_changed'), 'user set-password')

  const phone = await login(app, 'carol', 'a password set by an operator')
  t.equal((await cli(['user', 'deactivate', 'carol'])).code, 0)
  t.equal((await cli(['user', 'reactivate', 'carol'])).code, 0)
  t.match(await told(app, phone.token), revoked('user_deactivated'), 'reactivated, the old token stays dead, for the same reason')

  const tablet = await login(app, 'carol', 'a password set by an operator')
  t.equal((await cli(['user', 'delete', 'carol', '--yes'])).code, 0)
  t.match(await told(app, tablet.token), revoked('revoked'), 'user delete')
})

t.test('purge: a swept expired token is still TOKEN_EXPIRED; tombstones past the memory are forgotten', async (t) => {
  const { app, config } = await buildTestApp(t)
  const cli = cliFor(config.databaseUrl)
  await register(app, 'bob')
  const expiring = await login(app, 'bob')
  const gone = await login(app, 'bob')
  await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Token ${gone.token}` } })
  const db = app.tessera.database.kysely
  await app.tessera.database.tokenLookup.flushUses()
  await db.updateTable('tessera_tokens').set({ expires_at: Date.now() - 1000 }).where('id', '=', expiring.tokenId).execute()

  const first = await cli(['purge'])
  t.equal(first.stdout, 'deleted 1 expired token\n', first.stderr)
  t.match(await told(app, expiring.token), { code: 'TOKEN_EXPIRED' }, 'swept, and still told it expired')
  t.match(await told(app, gone.token), revoked('logout'))

  await db.updateTable('tessera_token_tombstones').set((eb) => ({ ended_at: eb('ended_at', '-', 31 * DAY) })).execute()
  t.equal((await cli(['purge'])).code, 0)
  t.same(await db.selectFrom('tessera_token_tombstones').select('reason').execute(), [], 'purge forgot both tombstones')
  for (const { token } of [expiring, gone]) t.match(await told(app, token), { code: 'TOKEN_INVALID' })
})
