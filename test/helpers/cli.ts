/**
 * Runs the real, compiled `tessera` executable (`dist/src/cli/bin.js`, built by `npm test`'s
 * `pretest`) as a child process, the way a script or an operator does.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

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

export async function runCli (args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (npm test does)`)
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', TESSERA_LOGIN_RATE_LIMIT: 'off', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
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

/** A CLI bound to one database. */
export function cliFor (databaseUrl: string, env: Record<string, string> = {}) {
  return async (args: string[], options: CliOptions = {}): Promise<CliResult> =>
    await runCli(args, { ...options, env: { DATABASE_URL: databaseUrl, ...env, ...options.env } })
}

type Asserts = Pick<Test, 'equal' | 'match'>

/** The command failed with `code`, printed nothing on stdout and one `tessera: …` line on stderr. */
export function assertFails (t: Asserts, result: CliResult, code: 1 | 2, pattern: RegExp, name = ''): void {
  t.equal(result.code, code, `${name} exit code ${code}`)
  t.equal(result.stdout, '', `${name} nothing on stdout`)
  t.match(result.stderr, /^tessera: [^\n]+\n$/, `${name} one line on stderr`)
  t.match(result.stderr, pattern, `${name} says why`)
}
