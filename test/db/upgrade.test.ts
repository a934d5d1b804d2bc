/**
 * Upgrades never log anyone out: a database made by the previous release (0.1: tables `users`
 * and `auth_tokens`, Kysely's `kysely_migration`) is migrated in place, and every live token,
 * password and user id keeps working. Also: a failed migration leaves the database as it was.
 */
import { hash } from '@node-rs/argon2'
import { sql } from 'kysely'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { openDatabase } from '../../src/db/database.js'
import { migrateToLatest, pendingMigrations, runMigrations } from '../../src/db/migrate.js'
import { ARGON2_OPTIONS } from '../../src/users/builtin/passwords.js'
import { addEarlierUser, migrateBefore } from '../fixtures/before-migration.js'
import { addRelease01User, migrateAsRelease01 } from '../fixtures/release-0.1.js'
import { PASSWORD, TEST_DIALECT, auth, buildTestApp, freshDatabaseUrl, login, me, register } from '../helpers/app.js'
import { cliFor } from '../helpers/cli.js'

async function tableNames (url: string): Promise<string[]> {
  const database = openDatabase(url)
  try {
    const query = TEST_DIALECT === 'postgres'
      ? sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`
      : sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
    return (await query.execute(database.kysely)).rows.map((row) => row.name).sort()
  } finally {
    await database.close()
  }
}

t.test('a database made by 0.1 migrates in place: every live token, password and id keeps working', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const old = openDatabase(url)
  await migrateAsRelease01(old.kysely)
  const passwordHash = await hash(PASSWORD, ARGON2_OPTIONS)
  const alice = await addRelease01User(old.kysely, 'alice', passwordHash, null)
  const bob = await addRelease01User(old.kysely, 'bob', passwordHash, Date.now() + 3_600_000)
  await old.close()
  t.same(await tableNames(url), ['auth_tokens', 'kysely_migration', 'kysely_migration_lock', 'users'], 'the 0.1 layout')

  const { app } = await buildTestApp(t, {}, { DATABASE_URL: url })
  for (const user of [alice, bob]) {
    const response = await me(app, user.token)
    t.equal(response.statusCode, 200, `${user.username}'s token issued by 0.1 still works`)
    t.same(response.json().user.id, user.id, 'same user id')
    t.equal(response.json().user.username, user.username)
  }
  const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(alice.token) })).json()
  t.same(sessions.map((s: { id: string, device: string, expiry: string | null, scopes: string[] }) => [s.id, s.device, s.expiry, s.scopes]),
    [[alice.tokenId, 'Pixel 8', null, ['*']]], 'and can do everything it could: its scopes are *')
  t.equal((await login(app, 'bob')).user.id, bob.id, 'the password set under 0.1 still logs in')
  const carol = await register(app)
  t.ok(carol.user.id > bob.id, 'new users get new ids: the id sequence carried over')
  t.same(await tableNames(url), ['tessera_activity', 'tessera_migrations', 'tessera_migrations_lock', 'tessera_rate_limits', 'tessera_token_tombstones', 'tessera_tokens', 'tessera_users'],
    "0.1's tables and bookkeeping are gone; only tessera_ tables are left")
  t.same(await pendingMigrations(app.tessera.database.kysely), [])

  // The CLI sees the same users and tokens.
  const cli = cliFor(url)
  const listed = await cli(['token', 'list', 'alice', '--json'])
  t.equal(listed.code, 0, listed.stderr)
  t.same(JSON.parse(listed.stdout).map((s: { id: string }) => s.id), [alice.tokenId])
  t.equal((await cli(['token', 'revoke-all', 'alice'])).code, 0)
  t.equal((await me(app, alice.token)).statusCode, 401, 'and revoking it works at once')
})

t.test('a database at migration 0006 takes 0007 (tombstones) with its tokens working, and remembers revocations from then on', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const before = await buildTestApp(t, {}, { DATABASE_URL: url })
  const alice = await register(before.app)
  const second = await login(before.app, alice.user.username)
  const db = before.app.tessera.database.kysely
  // Back to the schema and bookkeeping of 0006: no tombstones table, 0007 not applied.
  await sql`DROP TABLE tessera_token_tombstones`.execute(db)
  await sql`DELETE FROM tessera_migrations WHERE name = '0007_token_tombstones'`.execute(db)
  t.same(await pendingMigrations(db), ['0007_token_tombstones'], 'the database is at 0006')
  await before.app.close()

  const { applied } = await runMigrations({ databaseUrl: url })
  t.same(applied, ['0007_token_tombstones'])
  const { app } = await buildTestApp(t, {}, { DATABASE_URL: url })
  for (const { token } of [alice, second]) t.equal((await me(app, token)).statusCode, 200, 'a token issued before the upgrade still works')
  await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(second.token) })
  t.match((await me(app, second.token)).json(), { code: 'TOKEN_REVOKED', reason: 'logout' }, 'and, revoked after it, says why')
  t.equal((await me(app, alice.token)).statusCode, 200)
})

t.test("0.1's bookkeeping table is kept when another application's migrations share it", async (t) => {
  const { url } = freshDatabaseUrl(t)
  const old = openDatabase(url)
  await migrateAsRelease01(old.kysely)
  await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('2023_app_orders', '2023-01-01T00:00:00.000Z')`.execute(old.kysely)
  await migrateToLatest(old.kysely)
  const left = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(old.kysely)
  t.same(left.rows.map((row) => row.name), ['2023_app_orders'], "only tessera's row left it")
  await old.close()
})

t.test('a migration that fails leaves the database exactly as it was', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const database = openDatabase(url)
  t.teardown(() => database.close())
  // An application table that happens to hold the name tessera's second table needs.
  await sql`CREATE TABLE tessera_tokens (mine integer)`.execute(database.kysely)
  await t.rejects(migrateToLatest(database.kysely), /migration 0001_create_tessera_tables failed/)
  t.same(await tableNames(url), ['tessera_tokens'], 'no tessera_users, no bookkeeping: the failed run left nothing')
  t.same(await pendingMigrations(database.kysely), migrations.map(([name]) => name))
})

t.test('usernames are matched by their full case fold; old keys move, and a collision is reported, not merged (audit item 14)', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const old = openDatabase(url)
  await migrateAsRelease01(old.kysely)
  const passwordHash = await hash(PASSWORD, ARGON2_OPTIONS)
  // Under 0.1's key (NFKC, upper, lower case) these were two accounts: `weiss` and `weiß`.
  const lower = await addRelease01User(old.kysely, 'weiß', passwordHash, null)
  const capital = await addRelease01User(old.kysely, 'WEIẞ', passwordHash, null)
  const sigma = await addRelease01User(old.kysely, 'ΟΔΥΣΣΕΥΣ', passwordHash, null)
  await old.close()

  const { applied, warnings } = await runMigrations({ databaseUrl: url })
  t.ok(applied.includes('0004_username_keys'))
  t.equal(warnings.length, 1, 'one collision reported')
  t.match(warnings[0], /0004_username_keys: usernames "weiß" \(id \d+\) and "WEIẞ" \(id \d+\) are now the same name/)

  const { app } = await buildTestApp(t, {}, { DATABASE_URL: url })
  for (const user of [lower, capital, sigma]) t.equal((await me(app, user.token)).statusCode, 200, `${user.username}: nobody is logged out`)
  t.equal((await login(app, 'WEISS')).user.id, lower.id, 'WEISS, weiß and WEIẞ are one name now: the account that had it')
  t.equal((await login(app, 'οδυσσευς')).user.id, sigma.id, 'final sigma and capital sigma meet')
  const taken = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'Weiẞ', password: PASSWORD } })
  t.equal(taken.statusCode, 409, 'no new look-alike account')
})

t.test('a username with an invisible letter is refused', async (t) => {
  const { app } = await buildTestApp(t)
  for (const username of ['alice\u3164', 'bo\u200bb', 'eve\u202e']) {
    const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
    t.equal(response.statusCode, 400, JSON.stringify(username))
  }
})

t.test('a database from before 0008 (session clients) upgrades: its tokens work, with unknown addresses and User-Agent', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const old = openDatabase(url)
  await migrateBefore(old.kysely, '0008_session_clients')
  const passwordHash = await hash(PASSWORD, ARGON2_OPTIONS)
  const ida = await addEarlierUser(old.kysely, 'ida', passwordHash, 'Pixel 8')
  const jo = await addEarlierUser(old.kysely, 'jo', passwordHash, 'ThinkPad')
  await old.close()

  const { app } = await buildTestApp(t, {}, { DATABASE_URL: url })
  t.same(await pendingMigrations(app.tessera.database.kysely), [], 'migrated on start')
  t.match(await app.tessera.tokens.list(String(jo.id)), [{ id: jo.tokenId, device: 'ThinkPad', createdIp: null, lastUsedIp: null, userAgent: null }],
    'an old token: where it was made, and from what, is unknown')
  const response = await me(app, ida.token)
  t.equal(response.statusCode, 200, 'the token issued before still works')
  t.match(response.json(), { user: { id: ida.id, username: 'ida' }, session: { id: ida.tokenId, device: 'Pixel 8', scopes: ['*'] } })
  const fresh = await app.inject({
    method: 'POST', url: '/auth/login', remoteAddress: '198.51.100.5', headers: { 'user-agent': 'okhttp/4.12.0' }, payload: { username: 'ida', password: PASSWORD }
  })
  t.equal(fresh.statusCode, 200, 'its password still logs in')
  const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(fresh.json().token) })).json<Array<Record<string, unknown>>>()
  t.match(sessions.find((session) => session.id === ida.tokenId), { device: 'Pixel 8', createdIp: null, userAgent: null, lastUsedIp: '127.0.0.1' },
    'its first use after the upgrade records where it came from')
  t.match(sessions.find((session) => session.id === fresh.json().tokenId), { device: 'Android app', createdIp: '198.51.100.5', userAgent: 'okhttp/4.12.0' })
  t.equal((await me(app, jo.token)).statusCode, 200)
})
