/**
 * tessera inside an application that already has users: its own `users` table and its own
 * Kysely migrations on the same database (one SQLite file, or one PostgreSQL schema through the
 * application's pg.Pool), embedded with `users`.
 */
import SQLite from 'better-sqlite3'
import Fastify, { type FastifyInstance } from 'fastify'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Generated } from 'kysely'
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import tessera, { openDatabase, type Database, type TesseraOptions, type UserStore } from '../../src/index.js'
import { TEST_DIALECT, auth, freshDatabaseUrl, type TestContext } from '../helpers/app.js'

interface AppUsersTable { id: Generated<number>, email: string, name: string, password_hash: string, disabled: number }
interface AppTables { users: AppUsersTable }
interface AppUser { id: number, email: string, name: string, disabled: number }

function hashPassword (password: string): string {
  const salt = randomBytes(16)
  return `${salt.toString('hex')}:${scryptSync(password, salt, 32).toString('hex')}`
}
function checkPassword (stored: string, password: string): boolean {
  const [salt, hash] = stored.split(':') as [string, string]
  return timingSafeEqual(scryptSync(password, Buffer.from(salt, 'hex'), 32), Buffer.from(hash, 'hex'))
}

/** The application's database, with its own migration of its own `users` table. */
async function appDatabase (t: TestContext): Promise<{ kysely: Kysely<AppTables>, tesseraDatabase: () => Database, native: SQLite.Database | pg.Pool }> {
  const { url, sqlitePath } = freshDatabaseUrl(t)
  const postgres = TEST_DIALECT === 'postgres'
  const native = postgres ? new pg.Pool({ connectionString: url, max: 4 }) : new SQLite(sqlitePath!)
  const kysely = new Kysely<AppTables>({
    dialect: postgres ? new PostgresDialect({ pool: native as pg.Pool }) : new SqliteDialect({ database: native as SQLite.Database })
  })
  t.teardown(() => kysely.destroy())
  // Kysely's Migrator looks for its tables in every schema unless told which: on a server shared
  // with other schemas (other test files run alongside), name the application's own.
  const schema = postgres ? (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(kysely)).rows[0]!.s : undefined
  const migrator = new Migrator({
    db: kysely,
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
    provider: {
      getMigrations: async () => ({
        '2024_01_users': {
          up: async (db: Kysely<any>) => {
            await db.schema.createTable('users')
              .addColumn('id', postgres ? 'serial' : 'integer', (col) => col.primaryKey())
              .addColumn('email', 'text', (col) => col.notNull().unique())
              .addColumn('name', 'text', (col) => col.notNull())
              .addColumn('password_hash', 'text', (col) => col.notNull())
              .addColumn('disabled', 'integer', (col) => col.notNull().defaultTo(0))
              .execute()
          }
        }
      })
    }
  })
  const { error } = await migrator.migrateToLatest()
  if (error !== undefined) throw error
  return { kysely, native, tesseraDatabase: () => openDatabase(native as SQLite.Database) }
}

async function addUser (db: Kysely<AppTables>, email: string, password: string): Promise<AppUser> {
  return await db.insertInto('users').values({ email, name: email.split('@')[0]!, password_hash: hashPassword(password), disabled: 0 })
    .returning(['id', 'email', 'name', 'disabled']).executeTakeFirstOrThrow()
}

function userStore (db: Kysely<AppTables>): UserStore<AppUser> {
  return {
    find: async (id) => await db.selectFrom('users').select(['id', 'email', 'name', 'disabled'])
      .where('id', '=', Number(id)).where('disabled', '=', 0).executeTakeFirst() ?? null,
    idOf: (user) => String(user.id),
    verifyCredentials: async (email, password) => {
      const row = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst()
      if (row === undefined || row.disabled !== 0 || !checkPassword(row.password_hash, password)) return null
      return { id: row.id, email: row.email, name: row.name, disabled: row.disabled }
    },
    serialize: (user) => ({ id: user.id, email: user.email })
  }
}

async function embed (t: TestContext, options: Partial<TesseraOptions> = {}) {
  const appDb = await appDatabase(t)
  const app = Fastify()
  const database = appDb.tesseraDatabase()
  t.teardown(async () => { await app.close(); await database.close() })
  await app.register(tessera, { database, users: userStore(appDb.kysely) as unknown as TesseraOptions['users'], loginRateLimit: null, sweepInterval: null, ...options })
  app.get('/orders', { preHandler: app.authenticate }, async (request) => {
    const user = request.user as unknown as AppUser
    return { owner: user.id, name: user.name }
  })
  return { app, ...appDb }
}

t.test("tessera's tables sit beside the application's, and each keeps its own migrations", async (t) => {
  const { app, kysely } = await embed(t)
  await app.ready()
  const tables = TEST_DIALECT === 'postgres'
    ? (await sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`.execute(kysely)).rows
    : (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`.execute(kysely)).rows
  const names = tables.map((row) => row.name).sort()
  t.same(names, ['kysely_migration', 'kysely_migration_lock', 'tessera_activity', 'tessera_migrations', 'tessera_migrations_lock', 'tessera_rate_limits', 'tessera_token_tombstones', 'tessera_tokens', 'tessera_users', 'users'])
  const appMigrations = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(kysely)
  t.same(appMigrations.rows.map((row) => row.name), ['2024_01_users'], "the application's history holds only its own migrations")
  if (TEST_DIALECT === 'sqlite') {
    const indexes = (await sql<{ name: string, tbl: string }>`SELECT name, tbl_name AS tbl FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'tessera_%' AND name NOT LIKE 'sqlite_autoindex_%'`.execute(kysely)).rows
    t.ok(indexes.length >= 4 && indexes.every((index) => index.name.startsWith('tessera_')), 'every index tessera creates is named tessera_…')
  } else {
    const indexes = (await sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE 'tessera_%'`.execute(kysely)).rows
    t.ok(indexes.length >= 6 && indexes.every((index) => index.name.startsWith('tessera_')), `every index is named tessera_…: ${indexes.map((i) => i.name).join(', ')}`)
  }
  // A second run of the application's own migrator is still clean.
  const schema = TEST_DIALECT === 'postgres' ? (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(kysely)).rows[0]!.s : undefined
  const again = await new Migrator({
    db: kysely,
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
    provider: { getMigrations: async () => ({ '2024_01_users': { up: async () => {} } }) }
  }).migrateToLatest()
  t.equal(again.error, undefined, "the application's migrator sees no corruption")
})

t.test("the application's users log in, and its protected routes see its own user object", async (t) => {
  const { app, kysely } = await embed(t)
  const alice = await addUser(kysely, 'alice@example.com', 'app password 1')

  t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'x', password: 'yyyyyyyyy' } })).statusCode, 404, 'no /auth/register: the app owns sign-up')
  t.equal((await app.inject({ method: 'POST', url: '/auth/password', payload: {} })).statusCode, 404, 'no /auth/password: the app owns passwords')

  const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice@example.com', password: 'nope' } })
  t.equal(wrong.statusCode, 401)
  t.same(Object.keys(wrong.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(wrong.json().code, 'BAD_CREDENTIALS')
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice@example.com', password: 'app password 1', device: 'Pixel 8' } })
  t.equal(login.statusCode, 200)
  const issued = login.json()
  t.same(issued.user, { id: alice.id, email: 'alice@example.com' }, 'the user as serialize shows it')
  const basic = await app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: `Basic ${Buffer.from('alice@example.com:app password 1').toString('base64')}` } })
  t.equal(basic.statusCode, 200, 'HTTP Basic works too')

  t.same((await app.inject({ method: 'GET', url: '/orders', headers: auth(issued.token) })).json(), { owner: alice.id, name: 'alice' })
  const meAnswer = (await app.inject({ method: 'GET', url: '/auth/me', headers: auth(issued.token) })).json()
  t.same(meAnswer.user, { id: alice.id, email: 'alice@example.com' }, "/auth/me: the user as the application's serialize shows it")
  t.match(meAnswer.session, { id: issued.tokenId, device: 'Pixel 8', scopes: ['*'] }, "and the token's session beside it")
  const sessions = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: auth(issued.token) })).json()
  t.same(sessions.map((session: { device: string }) => session.device).sort(), ['Pixel 8', 'lightMyRequest'])

  // The application disables the user: its store no longer returns them, so the token is refused.
  await kysely.updateTable('users').set({ disabled: 1 }).where('id', '=', alice.id).execute()
  const refused = await app.inject({ method: 'GET', url: '/orders', headers: auth(issued.token) })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], 'Token error="invalid_token", error_description="User inactive or deleted."')
  t.equal(refused.json().code, 'USER_INACTIVE', "Fastify's own error handler shows the code too")
  const refusedByTessera = await app.inject({ method: 'GET', url: '/auth/me', headers: auth(issued.token) })
  t.same(refusedByTessera.json(), { statusCode: 401, error: 'Unauthorized', message: 'User inactive or deleted.', code: 'USER_INACTIVE' })
  await kysely.updateTable('users').set({ disabled: 0 }).where('id', '=', alice.id).execute()

  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(issued.token) })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/orders', headers: auth(issued.token) })).statusCode, 401, 'logged out')
})

t.test('tokens.issue after the application\'s own sign-up, verify for other transports, revokeAll', async (t) => {
  const { app, kysely } = await embed(t)
  await app.ready()
  const bob = await addUser(kysely, 'bob@example.com', 'app password 2')
  const { token, tokenId, expiry } = await app.tessera.tokens.issue(bob as never, { device: 'iPhone 15' })
  t.match(token, /^tsr_/)
  t.ok(expiry !== null && Date.parse(expiry) > Date.now())
  const verified = await app.tessera.tokens.verify(token)
  t.same(verified?.user, bob, 'verify returns the application\'s user')
  t.equal(verified?.token.id, tokenId)
  t.equal(verified?.token.subject, String(bob.id))
  t.equal(await app.tessera.tokens.verify('tsr_garbage'), null)

  const second = await app.tessera.tokens.issue(bob as never, { device: 'iPad' })
  t.equal(await app.tessera.tokens.revokeAll(String(bob.id)), 2)
  t.equal(await app.tessera.tokens.verify(token), null)
  t.equal((await app.inject({ method: 'GET', url: '/orders', headers: auth(second.token) })).statusCode, 401)
})

t.test("a user and their first token commit together in the application's transaction", async (t) => {
  const { app, kysely } = await embed(t)
  await app.ready()
  const committed = await kysely.transaction().execute(async (trx) => {
    const user = await addUser(trx, 'carol@example.com', 'app password 3')
    return await app.tessera.tokens.issue(user as never, { device: 'web', transaction: trx })
  })
  t.ok(await app.tessera.tokens.verify(committed.token), 'committed with the user')

  let rolledBack: string | undefined
  await t.rejects(kysely.transaction().execute(async (trx) => {
    const user = await addUser(trx, 'dave@example.com', 'app password 4')
    rolledBack = (await app.tessera.tokens.issue(user as never, { device: 'web', transaction: trx })).token
    throw new Error('sign-up failed after the token was made')
  }), /sign-up failed/)
  t.equal(await app.tessera.tokens.verify(rolledBack!), null, 'rolled back with the user')
  t.equal((await kysely.selectFrom('users').select('id').where('email', '=', 'dave@example.com').execute()).length, 0)
})

t.test("the application's error handler does not reshape tessera's errors", async (t) => {
  const { app, kysely } = await embed(t)
  app.setErrorHandler(async (error, _request, reply) => await reply.code(418).send({ oops: (error as Error).message }))
  await addUser(kysely, 'erin@example.com', 'app password 5')
  const noToken = await app.inject({ method: 'GET', url: '/auth/me' })
  t.equal(noToken.statusCode, 401)
  t.same(Object.keys(noToken.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(noToken.headers['www-authenticate'], 'Token')
  const badBody = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 5, password: 'x' } })
  t.equal(badBody.statusCode, 400)
  t.equal(badBody.json().error, 'Bad Request')
  const notJson = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'hi' })
  t.equal(notJson.statusCode, 415)
  const ownRoute = await app.inject({ method: 'GET', url: '/orders' })
  t.equal(ownRoute.statusCode, 418, "the application's own protected route goes through its own handler")
  t.equal(ownRoute.headers['www-authenticate'], 'Token', 'with the WWW-Authenticate header kept')
})

t.test('a store without verifyCredentials has no /auth/login; a store without serialize shows { id }', async (t) => {
  const appDb = await appDatabase(t)
  const app = Fastify()
  const database = appDb.tesseraDatabase()
  t.teardown(async () => { await app.close(); await database.close() })
  const { find, idOf } = userStore(appDb.kysely)
  await app.register(tessera, { database, users: { find, idOf } as unknown as TesseraOptions['users'], sweepInterval: null })
  const frank = await addUser(appDb.kysely, 'frank@example.com', 'app password 6')
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'frank@example.com', password: 'app password 6' } })).statusCode, 404)
  const { token, tokenId } = await app.tessera.tokens.issue(frank as never, { device: 'cli' })
  const shown = (await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })).json()
  t.same(shown.user, { id: String(frank.id) })
  t.equal(shown.session.id, tokenId)
})

t.test('decorator clashes fail registration with a message naming the option that renames tessera\'s', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const withAuthenticate = Fastify()
  t.teardown(() => withAuthenticate.close())
  withAuthenticate.decorate('authenticate', async () => {})
  await t.rejects(async () => { await withAuthenticate.register(tessera, { databaseUrl: url, sweepInterval: null }).ready() }, /"authenticate".*authenticateDecorator/)

  const withUser = Fastify()
  t.teardown(() => withUser.close())
  withUser.decorateRequest('user', null)
  await t.rejects(async () => { await withUser.register(tessera, { databaseUrl: url, sweepInterval: null }).ready() }, /"user".*decoratorName/)

  const renamed = Fastify()
  t.teardown(() => renamed.close())
  renamed.decorate('authenticate', async () => {})
  renamed.decorateRequest('user', null)
  await renamed.register(tessera, { databaseUrl: url, sweepInterval: null, authenticateDecorator: 'requireToken', decoratorName: 'account' })
  const requireToken = (renamed as unknown as Record<string, FastifyInstance['authenticate']>).requireToken!
  renamed.get('/mine', { preHandler: requireToken }, async (request) => ({ account: (request as unknown as { account: { username: string } }).account.username }))
  const registered = await renamed.inject({ method: 'POST', url: '/auth/register', payload: { username: 'gina', password: 'correct horse battery' } })
  t.equal(registered.statusCode, 201)
  t.same((await renamed.inject({ method: 'GET', url: '/mine', headers: auth(registered.json().token) })).json(), { account: 'gina' })
})

t.test('migrate: false on an unmigrated database fails registration clearly', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(tessera, { databaseUrl: url, migrate: false }).ready() }, /is not migrated \(pending: 0001_create_tessera_tables.*tessera migrate/)
})

t.test('the plugin sweeps expired tokens hourly by default, like the service', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(tessera, { databaseUrl: url })
  t.equal(app.tessera.settings.sweepInterval, 3_600_000)
})
