/**
 * Migrating as a separate step (`npm run migrate`, `TESSERA_MIGRATE_ON_START=false`) and the
 * startup errors: an unreachable database is named (host, never password), an unmigrated one is
 * refused when the service is not allowed to migrate it.
 */
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { loadConfig } from '../../src/config.js'
import { describeUrl, openDatabase } from '../../src/db/database.js'
import { migrateToLatest, pendingMigrations, runMigrations } from '../../src/db/migrate.js'
import { runCli } from '../helpers/cli.js'
import { serve } from '../../src/server.js'
import { TEST_DIALECT, buildTestApp, freshDatabaseUrl, me, register } from '../helpers/app.js'
import { TEST_POSTGRES_URL } from '../helpers/postgres.js'

const ALL_MIGRATIONS = migrations.map(([name]) => name)
/** Nothing listens on port 1: connecting is refused at once. */
const UNREACHABLE = 'postgres://tessera:s3cret-pw@127.0.0.1:1/tessera'

t.test('runMigrations applies what is pending, then nothing', async (t) => {
  const { url } = freshDatabaseUrl(t)
  t.same((await runMigrations({ databaseUrl: url })).applied, ALL_MIGRATIONS)
  const again = await runMigrations({ databaseUrl: url })
  t.same(again.applied, [])
  t.equal(again.database, describeUrl(url), 'it says which database it migrated')
})

t.test('with TESSERA_MIGRATE_ON_START=false the app leaves the schema alone and serves a migrated database', async (t) => {
  const { url } = freshDatabaseUrl(t)
  await t.rejects(buildTestApp(t, {}, { DATABASE_URL: url, TESSERA_MIGRATE_ON_START: 'false' }), /is not migrated \(pending: 0001_create_tessera_tables/,
    'an unmigrated database is refused while building the app, not at its first request')
  const database = openDatabase(url)
  t.same(await pendingMigrations(database.kysely), ALL_MIGRATIONS, 'building it migrated nothing')
  await database.close()
  await runMigrations({ databaseUrl: url })
  const { app } = await buildTestApp(t, {}, { DATABASE_URL: url, TESSERA_MIGRATE_ON_START: 'false' })
  t.same(await pendingMigrations(app.tessera.database.kysely), [])
  t.equal((await me(app, (await register(app)).token)).statusCode, 200)
})

t.test('the service refuses to start on an unmigrated database it may not migrate', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const config = loadConfig({ DATABASE_URL: url, TESSERA_MIGRATE_ON_START: 'false', PORT: '0', LOG_LEVEL: 'silent' })
  await t.rejects(serve(config), { message: new RegExp(`is not migrated \\(pending: ${ALL_MIGRATIONS.join(', ')}\\).*npm run migrate`) })
})

t.test('an unreachable PostgreSQL server is named at startup, its password never', async (t) => {
  for (const migrateOnStart of ['true', 'false']) {
    const config = loadConfig({ DATABASE_URL: UNREACHABLE, TESSERA_MIGRATE_ON_START: migrateOnStart, PORT: '0', LOG_LEVEL: 'silent' })
    const error = await serve(config).then(() => undefined, (caught: unknown) => caught as Error)
    t.match(error?.message, /^cannot connect to the database at postgres:\/\/tessera:\*\*\*@127\.0\.0\.1:1\/tessera: .*ECONNREFUSED/,
      `migrate on start: ${migrateOnStart}`)
    t.notMatch(error?.message, /s3cret/)
  }
  const error = await runMigrations({ databaseUrl: UNREACHABLE }).then(() => undefined, (caught: unknown) => caught as Error)
  t.match(error?.message, /^cannot connect to the database at postgres:\/\/tessera:\*\*\*@127\.0\.0\.1:1\/tessera/)
  t.notMatch(error?.message, /s3cret/)
})

t.test('`tessera migrate` (what `npm run migrate` runs) migrates, reports, and fails clearly', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const first = await runCli(['migrate'], { env: { DATABASE_URL: url } })
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /^applied 0001_create_tessera_tables$/m)
  const again = await runCli(['migrate'], { env: { DATABASE_URL: url } })
  t.equal(again.code, 0)
  t.notMatch(again.stdout, /applied/)
  const unreachable = await runCli(['migrate'], { env: { DATABASE_URL: UNREACHABLE } })
  t.equal(unreachable.code, 1)
  t.match(unreachable.stderr, /postgres:\/\/tessera:\*\*\*@127\.0\.0\.1:1\/tessera/)
  t.notMatch(unreachable.stderr, /s3cret/)
  const invalid = await runCli(['migrate'], { env: { DATABASE_URL: 'mysql://db/x' } })
  t.equal(invalid.code, 1)
  t.match(invalid.stderr, /DATABASE_URL/)
})

t.test('PostgreSQL only', { skip: TEST_DIALECT !== 'postgres' && 'run with TESSERA_TEST_DATABASE=postgres' }, async (t) => {
  t.test('each schema keeps its own migrations, whatever its neighbours hold', async (t) => {
    const first = freshDatabaseUrl(t)
    const second = freshDatabaseUrl(t)
    t.same((await runMigrations({ databaseUrl: first.url })).applied, ALL_MIGRATIONS)
    t.same((await runMigrations({ databaseUrl: second.url })).applied, ALL_MIGRATIONS,
      'a neighbouring schema that already has kysely_migration does not fool the second')
  })

  t.test('instances migrating at the same moment apply each migration once', async (t) => {
    const { url } = freshDatabaseUrl(t)
    const runs = await Promise.all([1, 2, 3].map(async () => await runMigrations({ databaseUrl: url })))
    t.same(runs.flatMap((run) => run.applied), ALL_MIGRATIONS)
  })

  t.test('a search_path naming no existing schema is explained', async (t) => {
    const url = new URL(TEST_POSTGRES_URL)
    url.searchParams.set('options', '-c search_path=no_such_schema_here')
    const database = openDatabase(url.toString())
    t.teardown(() => database.close())
    await t.rejects(migrateToLatest(database.kysely), { message: /none of the schemas on the search_path exists/ })
  })
})
