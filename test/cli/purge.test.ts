import { PassThrough } from 'node:stream'
import t from 'tap'
import { run } from '../../src/cli/index.js'
import type { Io } from '../../src/cli/io.js'
import { toTesseraUser } from '../../src/users/builtin/user.js'
import { findUserByUsername } from '../../src/users/builtin/repository.js'
import { buildTestApp, me, register, type TestApp, type TestContext } from '../helpers/app.js'
import { cliFor } from '../helpers/cli.js'
import { testClock } from '../helpers/clock.js'
import type { FastifyInstance } from 'fastify'

/**
 * An app whose clock runs an hour behind the real one, which the CLI reads: what it issues with a
 * lifetime of a minute has expired for the CLI already, without waiting for that.
 */
async function behindTheCli (t: TestContext): Promise<TestApp> {
  return await buildTestApp(t, { clock: testClock(Date.now() - 3_600_000).now })
}

/** Gives `username` `count` tokens that have expired by the CLI's clock (the app's must be `behindTheCli`). */
async function expiredTokens (app: FastifyInstance, username: string, count: number): Promise<void> {
  const row = await findUserByUsername(app.tessera.database.kysely, username)
  for (let i = 0; i < count; i++) await app.tessera.tokens.issue(toTesseraUser(row!), { device: `old ${i}`, ttl: 60_000 })
}

async function countTokens (app: FastifyInstance): Promise<number> {
  const { n } = await app.tessera.database.kysely.selectFrom('tessera_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(n)
}

t.test('purge deletes every expired token, in batches, reports how many, and keeps the live ones', async (t) => {
  const { app, config } = await behindTheCli(t)
  const cli = cliFor(config.databaseUrl)
  const alive = await register(app, 'alice')
  await expiredTokens(app, 'alice', 7)
  const forever = (await cli(['token', 'create', 'alice', '--ttl', 'none'])).stdout.trim()
  t.equal(await countTokens(app), 9)

  const result = await cli(['purge', '--batch-size', '3'])
  t.equal(result.code, 0)
  t.equal(result.stdout, 'deleted 7 expired tokens\n')
  t.equal(result.stderr, '', 'no progress when stderr is not a terminal')
  t.equal(await countTokens(app), 2)
  t.equal((await me(app, alive.token)).statusCode, 200)
  t.equal((await me(app, forever)).statusCode, 200)

  const again = await cli(['purge'])
  t.equal(again.stdout, 'deleted 0 expired tokens\n')
})

function fakeIo (env: Record<string, string>, tty: boolean): { io: Io, stdout: () => string, stderr: () => string } {
  const out = new PassThrough()
  const err = Object.assign(new PassThrough(), { isTTY: tty })
  let stdout = ''
  let stderr = ''
  out.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  err.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  return { io: { stdout: out, stderr: err, stdin: new PassThrough(), env }, stdout: () => stdout, stderr: () => stderr }
}

t.test('on a terminal, purge shows its progress batch by batch on stderr, then clears it', async (t) => {
  const { app, config } = await behindTheCli(t)
  await register(app, 'bob')
  await expiredTokens(app, 'bob', 5)
  const { io, stdout, stderr } = fakeIo({ DATABASE_URL: config.databaseUrl }, true)
  t.equal(await run(['purge', '--batch-size', '2'], io), 0)
  t.equal(stdout(), 'deleted 5 expired tokens\n')
  // eslint-disable-next-line no-control-regex -- the progress line ends by erasing itself with ESC [K
  t.match(stderr(), /^\rdeleting expired tokens… 2\rdeleting expired tokens… 4\rdeleting expired tokens… 5\r\u001b\[K$/)
})

t.test('on a terminal, the commands add a note on stderr; stdout stays the bare secret', async (t) => {
  const { app, config } = await buildTestApp(t)
  await register(app, 'carol')
  const created = fakeIo({ DATABASE_URL: config.databaseUrl }, true)
  t.equal(await run(['token', 'create', 'carol', '--device', 'ci'], created.io), 0)
  t.match(created.stdout(), /^tsr_\w{49}\n$/)
  t.match(created.stderr(), /^token [0-9a-f-]{36} for carol on "ci", expires \S+Z:\n$/)
})
