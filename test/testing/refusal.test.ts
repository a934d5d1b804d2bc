/**
 * The test password cost never reaches a real deployment: the kit refuses to start with
 * NODE_ENV=production; the plugin refuses the kit's grant on any database the kit did not make
 * and mark (SQLite or PostgreSQL); nothing public (the package's entry points, an environment
 * variable, a plugin option) selects the cost; and a hash made at that cost, copied into a real
 * database, does not verify there.
 */
import { hash } from '@node-rs/argon2'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { openDatabase, type Database } from '../../src/db/database.js'
import tessera, { type TesseraOptions } from '../../src/index.js'
import { TEST_KIT, grantFor, type TestKitGrant } from '../../src/testing/grant.js'
import { startTestServer } from '../../src/testing/index.js'
import { TEST_ARGON2_OPTIONS } from '../../src/users/builtin/passwords.js'
import { PASSWORD, TEST_DIALECT, buildTestApp, freshDatabaseUrl, login } from '../helpers/app.js'

/** Registers the plugin on `database` with `grant` under the kit's key, as the kit does. */
async function registerWithGrant (t: Test, database: Database, grant: TestKitGrant): Promise<void> {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(tessera, { database, [TEST_KIT]: grant } as TesseraOptions)
  await app.ready()
}

function openFresh (t: Test): Database {
  const database = openDatabase(freshDatabaseUrl(t).url)
  t.teardown(() => database.close())
  return database
}

t.test('the kit will not start with NODE_ENV=production', async (t) => {
  const saved = process.env.NODE_ENV
  t.teardown(() => { if (saved === undefined) delete process.env.NODE_ENV; else process.env.NODE_ENV = saved })
  process.env.NODE_ENV = 'production'
  await t.rejects(startTestServer(), /the test kit's password cost is refused: NODE_ENV is production/)
  process.env.NODE_ENV = 'test'
  const kit = await startTestServer()
  await kit.close()
  t.pass('it starts under any other NODE_ENV')
})

t.test(`the grant is refused on a ${TEST_DIALECT} database the kit did not make`, async (t) => {
  const database = openFresh(t)
  const kitDatabase = openDatabase('sqlite::memory:', { tokenCacheSize: 0 })
  t.teardown(() => kitDatabase.close())
  const kitGrant = await grantFor(kitDatabase)
  await t.rejects(registerWithGrant(t, database, kitGrant), /refused: .* is not a database the test kit made/,
    "a real kit's grant, presented with another database")
  await t.rejects(registerWithGrant(t, database, { database, kitId: kitGrant.kitId }),
    TEST_DIALECT === 'sqlite' ? /does not bear the test kit's mark/ : /is not a database the test kit made/,
    'a grant naming the database, which bears no mark')
})

t.test('the grant is refused on a kit-made database whose mark is not its own', async (t) => {
  const database = openDatabase('sqlite::memory:', { tokenCacheSize: 0 })
  t.teardown(() => database.close())
  await grantFor(database)
  await t.rejects(registerWithGrant(t, database, { database, kitId: 'a guessed id' }), /does not bear the test kit's mark/)
})

t.test('nothing public selects the test cost: entry points, environment, plugin options', async (t) => {
  const main = await import('../../src/index.js')
  const testing = await import('../../src/testing/index.js')
  t.same(Object.keys(testing), ['startTestServer'], 'tessera-auth/testing exports startTestServer alone')
  t.notOk((Object.values(main) as unknown[]).includes(TEST_KIT), 'tessera-auth does not export the key')
  t.notOk((Object.values(testing) as unknown[]).includes(TEST_KIT), 'nor does tessera-auth/testing')

  // Options and variables that look as if they might select it are ignored: the hash is OWASP's.
  const { app } = await buildTestApp(t, { passwordCost: 'test', cost: 'test', testKit: true } as object,
    { NODE_ENV: 'test', TESSERA_PASSWORD_COST: 'test', TESSERA_TEST_KIT: 'true' })
  await login(app, (await app.tessera.builtinUsers!.create({ username: 'frank', password: PASSWORD }))!.username)
  const row = await app.tessera.builtinUsers!.byUsername('frank')
  t.match(row?.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
})

t.test(`a hash made at the test cost does not verify on a real ${TEST_DIALECT} service`, async (t) => {
  const { app } = await buildTestApp(t)
  const users = app.tessera.builtinUsers!
  await users.create({ username: 'grace', password: PASSWORD })
  await users.create({ username: 'heidi', password: PASSWORD })
  // As if copied from a kit's database into this one.
  const cheap = await hash(PASSWORD, TEST_ARGON2_OPTIONS)
  await app.tessera.database.kysely.updateTable('tessera_users').set({ password_hash: cheap }).where('username', '=', 'heidi').execute()
  const attempt = async (username: string): Promise<number> =>
    (await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })).statusCode
  t.equal(await attempt('grace'), 200, 'the control: a hash at the real cost')
  t.equal(await attempt('heidi'), 401, 'the right password, against a test-cost hash: refused')
})
