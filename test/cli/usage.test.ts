import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describeUrl } from '../../src/db/database.js'
import t from 'tap'
import { buildTestApp, freshDatabaseUrl, me } from '../helpers/app.js'
import { BIN, assertFails, cliFor, runCli, spawnCli } from '../helpers/cli.js'

const COMMANDS = [
  'serve', 'migrate', 'user create', 'user deactivate', 'user list', 'user show', 'user set-password',
  'user reactivate', 'user delete', 'token create', 'token list', 'token revoke', 'token revoke-all', 'purge'
]

t.test('tessera --help lists every command and exits 0; no command at all is a one-line usage error', async (t) => {
  for (const flag of ['--help', '-h', 'help']) {
    const result = await runCli([flag])
    t.equal(result.code, 0, flag)
    t.equal(result.stderr, '')
    t.match(result.stdout, /^Usage: tessera <command>/)
    for (const command of COMMANDS) t.match(result.stdout, new RegExp(`^  ${command} `, 'm'), `lists ${command}`)
  }
  assertFails(t, await runCli([]), 2, /missing command: one of serve, migrate, user, token, purge \(see `tessera --help`\)/)
})

t.test('every command and group answers --help with its usage, without touching a database', async (t) => {
  // An invalid DATABASE_URL proves that help never loads the configuration.
  const env = { DATABASE_URL: 'not a url' }
  const runs = COMMANDS.map(async (command) => {
    const result = await runCli([...command.split(' '), '--help'], { env })
    t.equal(result.code, 0, `${command} --help`)
    t.match(result.stdout, new RegExp(`^Usage: tessera ${command}\\b`), `${command}: usage line`)
    t.match(result.stdout, /-h, --help/)
    t.equal(result.stderr, '')
  })
  await Promise.all(runs)
  for (const group of ['user', 'token']) {
    const result = await runCli([group, '--help'], { env })
    t.equal(result.code, 0)
    t.match(result.stdout, new RegExp(`^Usage: tessera ${group} <command>`))
  }
  const short = await runCli(['token', 'create', 'alice', '-h'], { env })
  t.equal(short.code, 0, '-h after arguments')
})

t.test('malformed command lines exit 2 with one line on stderr', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['user'], /needs a command: create, deactivate, list/],
    [['token', 'mint', 'alice'], /unknown command "token mint"/],
    [['token', 'create'], /missing <username>/],
    [['token', 'create', 'alice', 'bob'], /unexpected argument "bob"/],
    [['token', 'create', 'alice', '--bogus'], /Unknown option '--bogus'/],
    [['token', 'create', 'alice', '--ttl'], /--ttl/],
    [['token', 'create', 'alice', '--ttl', '1 hour'], /--ttl: "1 hour" is not/],
    [['token', 'create', 'alice', '--ttl', '0s'], /--ttl/],
    [['token', 'create', 'alice', '--device', 'x'.repeat(129)], /--device: expected 1 to 128 characters/],
    [['token', 'revoke'], /missing <id>/],
    [['user', 'create', 'carol smith'], /invalid username "carol smith"/],
    [['user', 'create', 'carol', '--email', 'nope'], /--email: "nope" is not an email address/],
    [['user', 'list', 'extra'], /unexpected argument "extra"/],
    [['purge', '--batch-size', '0'], /--batch-size/],
    [['purge', '--batch-size', 'lots'], /--batch-size/]
  ]
  const { url } = freshDatabaseUrl(t)
  const cli = cliFor(url)
  await Promise.all(cases.map(async ([args, pattern]) => assertFails(t, await cli(args), 2, pattern, args.join(' '))))
})

t.test('a password on the command line is refused, and never repeated', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const cli = cliFor(url)
  for (const args of [['--password', 'hunter2hunter2'], ['--password=hunter2hunter2']]) {
    const result = await cli(['user', 'create', 'dave', ...args])
    assertFails(t, result, 2, /--password-stdin/, args.join(' '))
    t.notMatch(result.stderr, /hunter2/, 'the password is not echoed')
  }
})

t.test('operational failures exit 1 with one line on stderr', async (t) => {
  assertFails(t, await runCli(['user', 'list'], { env: { DATABASE_URL: 'mysql://x' } }), 1,
    /invalid configuration: DATABASE_URL="mysql:\/\/x" is not valid/)
  assertFails(t, await runCli(['user', 'list'], { env: { DATABASE_URL: 'sqlite:./x.db', TESSERA_TOKEN_TTL: 'soon', PORT: 'x' } }), 1,
    /PORT="x".*; TESSERA_TOKEN_TTL="soon"/, 'every bad variable, on one line')

  const { url } = freshDatabaseUrl(t)
  for (const args of [['user', 'list'], ['token', 'create', 'alice'], ['purge']]) {
    assertFails(t, await cliFor(url)(args), 1, /not migrated .*run `tessera migrate` first/, `${args.join(' ')} before migrate`)
  }
})

t.test('tessera migrate applies the migrations once, and is then a no-op', async (t) => {
  const { url } = freshDatabaseUrl(t)
  const cli = cliFor(url)
  const first = await cli(['migrate'])
  t.equal(first.code, 0)
  t.match(first.stdout, /^applied 0001_create_tessera_tables$/m)
  t.ok(first.stdout.includes(`${describeUrl(url)} is up to date`), 'names the database, without a password')
  const again = await cli(['migrate'])
  t.equal(again.code, 0)
  t.notMatch(again.stdout, /applied/)
  t.match(again.stdout, /is up to date/)
  t.equal((await cli(['user', 'list'])).code, 0, 'the other commands now run')
})

// The tests above run the CLI in this process (`run`, what the executable calls); these run the
// compiled executable itself, as a script does.
// (Its shebang is checked with the tarball's contents, test/package/tarball.test.ts.)
t.test('the executable: exit codes 0, 1 and 2 as a process, errors in one line on stderr', async (t) => {
  const [help, version, usage, failure] = await Promise.all([
    spawnCli(['--help']),
    spawnCli(['--version']),
    spawnCli(['frobnicate']),
    spawnCli(['user', 'list'], { env: { DATABASE_URL: 'mysql://x' } })
  ])
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: tessera <command>/)
  t.equal(help.stderr, '')
  const { version: packageVersion } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.same(version, { code: 0, stdout: `${packageVersion}\n`, stderr: '' }, '--version finds the package.json above dist/')
  assertFails(t, usage, 2, /unknown command "frobnicate"/)
  assertFails(t, failure, 1, /invalid configuration: DATABASE_URL="mysql:\/\/x" is not valid/)
})

t.test('the executable: a reader that closed its end of stdout (`tessera --help | true`) ends it with 0, without a stack trace', async (t) => {
  const child = spawn(process.execPath, [BIN, '--help'], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  // Closed before Node has even started: the executable's first write meets a closed pipe (EPIPE).
  child.stdout.destroy()
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  t.equal(code, 0)
  t.equal(stderr, '')
})

t.test('the executable on a database: user create from a pipe, then token create prints a token that works', async (t) => {
  const { url } = freshDatabaseUrl(t)
  t.equal((await cliFor(url)(['migrate'])).code, 0)
  const cli = cliFor(url, {}, spawnCli)
  const created = await cli(['user', 'create', 'alice', '--password-stdin'], { input: 'correct horse battery\n' })
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /^created user alice \(id \d+\)\n$/)
  const minted = await cli(['token', 'create', 'alice'])
  t.equal(minted.code, 0, minted.stderr)
  t.equal(minted.stderr, '')
  t.match(minted.stdout, /^tsr_[0-9A-Za-z]{49}\n$/, 'TOKEN=$(tessera token create alice) gets the token alone')
  const { app } = await buildTestApp(t, {}, { DATABASE_URL: url })
  const response = await me(app, minted.stdout.trim())
  t.equal(response.statusCode, 200, 'the token authenticates')
  t.equal(response.json().user.username, 'alice')
})
