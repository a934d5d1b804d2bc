/**
 * Passwords are compared in Unicode NFC (audit item 15, NIST SP 800-63B): a password typed with a
 * composed or a decomposed accent is the same password; hashes made before normalisation (of the
 * password as typed) keep working; and the extra verification that takes costs unknown users the same.
 */
import t from 'tap'
import { hash } from '@node-rs/argon2'
import { ARGON2_OPTIONS } from '../../src/users/builtin/passwords.js'
import { auth, buildTestApp, login, register, uniqueName } from '../helpers/app.js'

const COMPOSED = 'caf\u00e9 cr\u00e8me br\u00fbl\u00e9e' // é, è, û as single code points
const DECOMPOSED = COMPOSED.normalize('NFD') // e + U+0301, …

t.test('the two forms of one password are written with different code points', async (t) => {
  t.not(COMPOSED, DECOMPOSED)
  t.equal(DECOMPOSED.normalize('NFC'), COMPOSED)
})

t.test('registered composed, logged in decomposed, and the other way round', async (t) => {
  const { app } = await buildTestApp(t)
  const composedUser = uniqueName('nfc')
  await register(app, composedUser, COMPOSED)
  t.equal((await login(app, composedUser, DECOMPOSED)).user.username, composedUser)

  const decomposedUser = uniqueName('nfd')
  await register(app, decomposedUser, DECOMPOSED)
  t.equal((await login(app, decomposedUser, COMPOSED)).user.username, decomposedUser)

  const basic = await app.inject({
    method: 'POST', url: '/auth/login', headers: { authorization: `Basic ${Buffer.from(`${composedUser}:${DECOMPOSED}`).toString('base64')}` }
  })
  t.equal(basic.statusCode, 200, 'HTTP Basic too')

  const issued = await login(app, composedUser, COMPOSED)
  const change = await app.inject({
    method: 'POST', url: '/auth/password', headers: auth(issued.token), payload: { currentPassword: DECOMPOSED, newPassword: 'new na\u0308ive password' }
  })
  t.equal(change.statusCode, 204, 'a password change checks the current password in NFC')
  await login(app, composedUser, 'new n\u00e4ive password')
  t.pass('and stores the new one in NFC')
})

t.test('a hash made before normalisation (of the decomposed form as typed) still verifies', async (t) => {
  const { app } = await buildTestApp(t)
  const username = uniqueName('legacy')
  await register(app, username, 'a placeholder password')
  // What an earlier version stored for a user who typed the decomposed form: its raw argon2 hash.
  const legacyHash = await hash(DECOMPOSED, ARGON2_OPTIONS)
  await app.tessera.database.kysely.updateTable('tessera_users').set({ password_hash: legacyHash }).where('username_key', '=', username.toLowerCase()).execute()

  t.equal((await login(app, username, DECOMPOSED)).user.username, username, 'the form typed then logs in')
  const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: `${DECOMPOSED}!` } })
  t.equal(wrong.statusCode, 401, 'a wrong password is still wrong')
})

t.test('an input that is not NFC costs two verifications, for a known and an unknown user alike', async (t) => {
  let verifications = 0
  const { Passwords } = await t.mockImport<typeof import('../../src/users/builtin/passwords.js')>('../../src/users/builtin/passwords.js', {
    '@node-rs/argon2': {
      hash: async (password: string) => `stand-in hash of ${password}`,
      verify: async (passwordHash: string, password: string) => {
        verifications += 1
        return passwordHash === `stand-in hash of ${password}`
      }
    }
  })
  const passwords = new Passwords({ concurrency: 1 })
  await passwords.warmUp()
  const stored = await passwords.hash(COMPOSED)
  const cost = async (check: () => Promise<boolean>): Promise<[boolean, number]> => {
    verifications = 0
    const ok = await check()
    return [ok, verifications]
  }
  t.same(await cost(() => passwords.verify(stored, 'a wrong passw\u00f6rd')), [false, 1], 'wrong, NFC: one')
  t.same(await cost(() => passwords.verifyNobody('a wrong passw\u00f6rd')), [false, 1], 'unknown user, NFC: one')
  t.same(await cost(() => passwords.verify(stored, 'a wrong passwo\u0308rd')), [false, 2], 'wrong, not NFC: two')
  t.same(await cost(() => passwords.verifyNobody('a wrong passwo\u0308rd')), [false, 2], 'unknown user, not NFC: two')
  t.same(await cost(() => passwords.verify(stored, DECOMPOSED)), [true, 1], 'right, in the other form: one')
  t.same(await cost(() => passwords.verify(`stand-in hash of ${DECOMPOSED}`, DECOMPOSED)), [true, 2], 'a legacy hash of the typed form: two')
})
