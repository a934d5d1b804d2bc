/**
 * Runs `tessera` command lines for tests, two ways:
 * - `runCli` (and `cliFor`), in this process: `run(argv, io)` from src/cli/index.ts, the function
 *   the executable calls, with the same environment and streams it would get, in a millisecond
 *   instead of the half second to two seconds of starting Node; what most tests want;
 * - `spawnCli`, the real, compiled executable (`dist/src/cli/bin.js`, built by `npm test`'s
 *   `pretest`) as a child process, the way a script or an operator runs it: for the tests whose
 *   point is the process itself (its exit code, its streams, a separate process writing to the
 *   database a server is using).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { finished } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { run } from '../../src/cli/index.js'

export const BIN = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  /** DATABASE_URL, and any other variable; the rest of the environment is not passed on. */
  env?: Record<string, string>
  /** Written to stdin, which is then closed (stdin is always a pipe, never a terminal). */
  input?: string
}

function cliEnvironment (options: CliOptions): Record<string, string> {
  return { PATH: process.env.PATH ?? '', TESSERA_LOGIN_RATE_LIMIT: 'off', ...options.env }
}

/** Collects everything written to a stream until it ends. */
function collect (stream: PassThrough): () => Promise<string> {
  let text = ''
  stream.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  return async () => {
    stream.end()
    await finished(stream)
    return text
  }
}

/**
 * One command line, run in this process as the executable runs it. `serve` is refused: it would
 * leave a server, and its signal handlers, in the test process (use `spawnCli`).
 */
export async function runCli (args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (args[0] === 'serve' && !args.includes('--help') && !args.includes('-h')) {
    throw new Error('runCli does not run `tessera serve` in the test process: use spawnCli')
  }
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const stdin = new PassThrough()
  const output = collect(stdout)
  const errors = collect(stderr)
  stdin.end(options.input ?? '')
  const code = await run(args, { stdout, stderr, stdin, env: cliEnvironment(options) })
  return { code, stdout: await output(), stderr: await errors() }
}

/** One command line, run by the compiled executable in a child process. */
export async function spawnCli (args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (npm test does)`)
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnvironment(options), stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  child.stdin.end(options.input ?? '')
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  return { code, stdout, stderr }
}

export type Cli = (args: string[], options?: CliOptions) => Promise<CliResult>

/** A CLI bound to one database: in this process, or with `runner` `spawnCli` as a child process. */
export function cliFor (databaseUrl: string, env: Record<string, string> = {}, runner: Cli = runCli): Cli {
  return async (args, options = {}) =>
    await runner(args, { ...options, env: { DATABASE_URL: databaseUrl, ...env, ...options.env } })
}

type Asserts = Pick<Test, 'equal' | 'match'>

/** The command failed with `code`, printed nothing on stdout and one `tessera: …` line on stderr. */
export function assertFails (t: Asserts, result: CliResult, code: 1 | 2, pattern: RegExp, name = ''): void {
  t.equal(result.code, code, `${name} exit code ${code}`)
  t.equal(result.stdout, '', `${name} nothing on stdout`)
  t.match(result.stderr, /^tessera: [^\n]+\n$/, `${name} one line on stderr`)
  t.match(result.stderr, pattern, `${name} says why`)
}
