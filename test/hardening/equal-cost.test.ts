import { ActivityLog } from '../../src/activity/log.js'
import t from 'tap'
import Fastify from 'fastify'
import { Passwords } from '../../src/users/builtin/passwords.js'
import { openDatabase } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { TesseraEmitter } from '../../src/events.js'
import { AuthenticationError } from '../../src/tokens/failures.js'
import { BuiltinUsers } from '../../src/users/builtin/store.js'
import { PASSWORD, freshDatabaseUrl } from '../helpers/app.js'

/** Counts the argon2 verifications that actually run. */
class CountingPasswords extends Passwords {
  verifications = 0
  override async verify (passwordHash: string, password: string): Promise<boolean> {
    this.verifications += 1
    return await super.verify(passwordHash, password)
  }
}

t.test('unknown user, deactivated user (right or wrong password) and wrong password each cost exactly one argon2 verify', async (t) => {
  const database = openDatabase(freshDatabaseUrl(t).url)
  t.teardown(() => database.close())
  await migrateToLatest(database.kysely)
  const passwords = new CountingPasswords()
  const users = new BuiltinUsers({ database, passwords, events: new TesseraEmitter(), log: Fastify().log, activity: new ActivityLog(database.kysely) })
  await users.create({ username: 'erin', password: PASSWORD })
  await users.create({ username: 'frank', password: PASSWORD })
  await database.kysely.updateTable('tessera_users').set({ deactivated_at: Date.now() }).where('username_key', '=', 'frank').execute()

  // What each answers: the user, null (BAD_CREDENTIALS), or the failure thrown (USER_INACTIVE).
  const cases: Array<[string, string, string, 'user' | 'null' | 'inactive']> = [
    ['right password', 'erin', PASSWORD, 'user'],
    ['wrong password', 'erin', 'not the password', 'null'],
    ['unknown user', 'nobody-here', 'not the password', 'null'],
    ['deactivated user, wrong password', 'frank', 'not the password', 'null'],
    ['deactivated user, right password', 'frank', PASSWORD, 'inactive']
  ]
  for (const [name, username, password, outcome] of cases) {
    passwords.verifications = 0
    const answer = await users.verifyCredentials(username, password).then(
      (user) => user === null ? 'null' : 'user',
      (error: unknown) => error instanceof AuthenticationError ? error.failure : 'other')
    t.equal(answer, outcome, name)
    t.equal(passwords.verifications, 1, `${name}: one verification`)
  }
})

t.test('a login storm runs at most one argon2 operation per core at once; the rest wait their turn', async (t) => {
  let running = 0
  let most = 0
  const argon2 = async <T>(outcome: () => T): Promise<T> => {
    running += 1
    most = Math.max(most, running)
    await new Promise((resolve) => setTimeout(resolve, 10))
    running -= 1
    return outcome()
  }
  const { Passwords: Limited } = await t.mockImport<typeof import('../../src/users/builtin/passwords.js')>('../../src/users/builtin/passwords.js', {
    '@node-rs/argon2': {
      hash: async () => await argon2(() => '$argon2id$stand-in'),
      verify: async (hash: string) => await argon2(() => {
        if (hash === 'broken') throw new Error('malformed hash')
        return true
      })
    }
  })
  const passwords = new Limited(2)
  const outcomes = await Promise.all(Array.from({ length: 12 }, async (_, i) =>
    i % 4 === 0 ? await passwords.hash('a password') : await passwords.verify(i % 4 === 1 ? 'broken' : 'a hash', 'a password')))
  t.equal(most, 2, 'never more than the limit at once')
  t.same(outcomes, Array.from({ length: 12 }, (_, i) => i % 4 === 0 ? '$argon2id$stand-in' : i % 4 !== 1),
    'every operation ran, in spite of the failing ones (a failure frees its slot)')
  t.equal(running, 0)
})
