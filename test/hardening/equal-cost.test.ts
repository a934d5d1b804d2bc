import t from 'tap'
import Fastify from 'fastify'
import { Accounts } from '../../src/auth/accounts.js'
import { Passwords } from '../../src/auth/passwords.js'
import { TokenFormat } from '../../src/auth/token-format.js'
import { openDatabase } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { TesseraEmitter } from '../../src/events.js'
import { DEFAULT_SETTINGS } from '../../src/settings.js'
import { PASSWORD, freshDatabaseUrl } from '../helpers/app.js'

/** Counts the argon2 verifications that actually run. */
class CountingPasswords extends Passwords {
  verifications = 0
  override async verify (passwordHash: string, password: string): Promise<boolean> {
    this.verifications += 1
    return await super.verify(passwordHash, password)
  }
}

t.test('unknown user, deactivated user and wrong password each cost exactly one argon2 verify', async (t) => {
  const database = openDatabase(freshDatabaseUrl(t).url)
  t.teardown(() => database.close())
  await migrateToLatest(database.kysely)
  const passwords = new CountingPasswords()
  const accounts = new Accounts({
    db: database.kysely, settings: DEFAULT_SETTINGS, passwords, format: new TokenFormat('tsr_'), events: new TesseraEmitter(), log: Fastify().log
  })
  await accounts.createUser({ username: 'erin', password: PASSWORD })
  await accounts.createUser({ username: 'frank', password: PASSWORD })
  await database.kysely.updateTable('users').set({ deactivated_at: Date.now() }).where('username_key', '=', 'frank').execute()

  const cases: Array<[string, string, string, boolean]> = [
    ['right password', 'erin', PASSWORD, true],
    ['wrong password', 'erin', 'not the password', false],
    ['unknown user', 'nobody-here', 'not the password', false],
    ['deactivated user, right password', 'frank', PASSWORD, false]
  ]
  for (const [name, username, password, ok] of cases) {
    passwords.verifications = 0
    const user = await accounts.verifyPassword(username, password)
    t.equal(user !== undefined, ok, name)
    t.equal(passwords.verifications, 1, `${name}: one verification`)
  }
})
